terraform {
  required_version = ">= 1.5.0"
  # Its path is in stagebot.yaml (backend_config): outside every checkout.
  backend "local" {}
}

variable "state_dir" {
  type        = string
  description = "Where the stages keep their state: bot plan, bot apply and bot demo set it."
}

data "terraform_remote_state" "infrastructure" {
  backend = "local"
  config = {
    path = "${var.state_dir}/infrastructure.tfstate"
  }
}

resource "terraform_data" "authentik" {
  input = "authentik on ${data.terraform_remote_state.infrastructure.outputs.cluster_name}"
}

output "authentik_url" {
  value = "https://auth.example.test"
}
