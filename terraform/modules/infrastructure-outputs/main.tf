# The infrastructure stage's outputs, read from its state in Object Storage:
# one place for the remote-state settings the platform and tenant stages share.
terraform {
  required_version = ">= 1.10.0"
}

variable "state_bucket" {
  type        = string
  description = "Object Storage bucket that holds the stages' state."
}

data "terraform_remote_state" "infrastructure" {
  backend = "s3"
  config = {
    bucket                      = var.state_bucket
    key                         = "infrastructure.tfstate"
    region                      = "eu-central-3"
    endpoints                   = { s3 = "https://s3.eu-central-3.ionoscloud.com" }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}

output "outputs" {
  description = "Every output of the infrastructure stage (sensitive ones stay sensitive)."
  value       = data.terraform_remote_state.infrastructure.outputs
  sensitive   = true
}
