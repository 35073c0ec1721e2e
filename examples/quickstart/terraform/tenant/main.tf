terraform {
  required_version = ">= 1.5.0"
  backend "local" {
    path = "../../.state/tenant.tfstate"
  }
}

data "terraform_remote_state" "platform" {
  backend = "local"
  config = {
    path = "../../.state/platform.tfstate"
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
