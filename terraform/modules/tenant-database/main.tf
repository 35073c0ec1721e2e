# A tenant's managed MariaDB in the platform's LAN: the one IONOS resource of
# the tenant stage, in a module of its own so that scripts/apply-stages can
# stand a stub in for it when it applies the stage to a test API server.
terraform {
  required_version = ">= 1.10.0"

  required_providers {
    ionoscloud = {
      source  = "ionos-cloud/ionoscloud"
      version = "~> 6.7"
    }
  }
}

variable "name" {
  type        = string
  description = "Display name of the cluster."
}

variable "location" {
  type        = string
  description = "IONOS location (the platform's)."
}

variable "size" {
  type = object({
    version    = string
    cores      = number
    ram_gb     = number
    storage_gb = number
  })
  description = "MariaDB version and size."
}

variable "network" {
  type = object({
    datacenter_id = string
    lan_id        = string
    lan_cidr      = string
    host_number   = number
  })
  description = "Where the cluster answers: host host_number of the platform's private LAN (lan_cidr, computed by IONOS)."
}

variable "credentials" {
  type = object({
    username = string
    password = string
  })
  description = "The WordPress user the cluster is made with."
  sensitive   = true
}

locals {
  lan_prefix = split("/", var.network.lan_cidr)[1]
}

resource "ionoscloud_mariadb_cluster" "this" {
  mariadb_version = var.size.version
  location        = var.location
  instances       = 1
  cores           = var.size.cores
  ram             = var.size.ram_gb
  storage_size    = var.size.storage_gb
  display_name    = var.name

  connections {
    datacenter_id = var.network.datacenter_id
    lan_id        = var.network.lan_id
    cidr          = "${cidrhost(var.network.lan_cidr, var.network.host_number)}/${local.lan_prefix}"
  }

  credentials {
    username = var.credentials.username
    password = var.credentials.password
  }

  lifecycle {
    precondition {
      condition     = var.network.host_number < pow(2, 32 - tonumber(local.lan_prefix)) - 1
      error_message = "db_host_number ${var.network.host_number} is outside the platform LAN's range ${var.network.lan_cidr}: pick a free host number inside it."
    }
    precondition {
      # The provider's rule (6.7.34): 1 to 16 characters, starting with a
      # letter, '_' only between letters and digits.
      condition     = can(regex("^[a-zA-Z]([a-zA-Z0-9]+_)*[a-zA-Z0-9]+$", var.credentials.username)) && length(var.credentials.username) <= 16
      error_message = "MariaDB user names are 1 to 16 letters, digits or '_', start with a letter, and have '_' only between letters or digits."
    }
  }
}

output "host" {
  description = "DNS name of the cluster."
  value       = ionoscloud_mariadb_cluster.this.dns_name
}
