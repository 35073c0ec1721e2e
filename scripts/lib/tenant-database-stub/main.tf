# scripts/apply-stages: stands in for terraform/modules/tenant-database (IONOS
# MariaDB) when the tenant stage is applied to a test API server. The same
# inputs, checked the same way; no cloud is called.
variable "name" {
  type = string
}

variable "location" {
  type = string
}

variable "size" {
  type = object({ version = string, cores = number, ram_gb = number, storage_gb = number })
}

variable "network" {
  type = object({ datacenter_id = string, lan_id = string, lan_cidr = string, host_number = number })
}

variable "credentials" {
  type      = object({ username = string, password = string })
  sensitive = true
}

resource "terraform_data" "mariadb" {
  input = {
    name    = var.name
    address = cidrhost(var.network.lan_cidr, var.network.host_number)
  }
}

output "host" {
  value = "${var.name}.mariadb-stub.invalid"
}
