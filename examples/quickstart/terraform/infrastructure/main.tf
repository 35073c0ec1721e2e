terraform {
  required_version = ">= 1.5.0"
  # Its path is in stagebot.yaml (backend_config): outside every checkout.
  backend "local" {}
}

variable "node_count" {
  type        = number
  description = "Worker nodes in the (pretend) cluster."
  default     = 3
}

resource "terraform_data" "cluster" {
  input = {
    name  = "demo-cluster"
    nodes = var.node_count
  }
}

resource "terraform_data" "database" {
  input = "demo-postgres"
}

output "cluster_name" {
  value = terraform_data.cluster.output.name
}

output "postgres_password" {
  value     = "demo-password-not-real"
  sensitive = true
}
