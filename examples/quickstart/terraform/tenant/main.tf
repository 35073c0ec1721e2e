terraform {
  required_version = ">= 1.5.0"
  # Its path is in stagebot.yaml (backend_config): outside every checkout.
  backend "local" {}
}

variable "state_dir" {
  type        = string
  description = "Where the stages keep their state: bot plan, bot apply and bot demo set it."
}

data "terraform_remote_state" "platform" {
  backend = "local"
  config = {
    path = "${var.state_dir}/platform.tfstate"
  }
}

variable "tenants" {
  type        = set(string)
  description = "One WordPress per tenant."
  default     = ["acme", "globex"]
}

resource "terraform_data" "wordpress" {
  for_each = var.tenants
  input    = "wordpress-tenant-${each.key} behind ${data.terraform_remote_state.platform.outputs.authentik_url}"
}
