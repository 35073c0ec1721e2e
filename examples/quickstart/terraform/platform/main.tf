terraform {
  required_version = ">= 1.5.0"
  backend "local" {
    path = "../../.state/platform.tfstate"
  }
}

data "terraform_remote_state" "infrastructure" {
  backend = "local"
  config = {
    path = "../../.state/infrastructure.tfstate"
  }
}

resource "terraform_data" "authentik" {
  input = "authentik on ${data.terraform_remote_state.infrastructure.outputs.cluster_name}"
}

output "authentik_url" {
  value = "https://auth.example.test"
}
