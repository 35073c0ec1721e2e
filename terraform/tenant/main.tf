variable "instance" {
  type        = string
  description = "The tenant's name, given by stagebot from its file's name (terraform/tenants/<name>.tfvars): its namespace is wordpress-tenant-<name>."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$", var.instance))
    error_message = "Tenant names must be DNS labels of at most 30 characters: lower-case letters, digits and '-', not starting or ending with '-'."
  }
}

variable "host" {
  type        = string
  description = "The tenant's WordPress address."
}

variable "db_host_number" {
  type        = number
  description = "Host number of the tenant's MariaDB in the platform LAN's private range: 10 or more, and another in each tenant's file (hosts below 10 are the infrastructure stage's)."

  validation {
    condition     = var.db_host_number >= 10 && floor(var.db_host_number) == var.db_host_number
    error_message = "db_host_number must be a whole number of 10 or more: hosts below 10 are the infrastructure stage's (PostgreSQL)."
  }
}

variable "state_bucket" {
  type        = string
  description = "Object Storage bucket that holds the stages' state."
  default     = "platform-tfstate"
}

variable "mariadb" {
  type = object({
    version    = string
    cores      = number
    ram_gb     = number
    storage_gb = number
  })
  description = "Size of each tenant's MariaDB cluster."
  default = {
    version    = "10.11"
    cores      = 1
    ram_gb     = 4
    storage_gb = 10
  }

  # What the IONOS provider (6.7.34) accepts, checked before anything is
  # planned.
  validation {
    condition     = var.mariadb.cores >= 1 && var.mariadb.ram_gb >= 4 && var.mariadb.storage_gb >= 10 && var.mariadb.storage_gb <= 2000
    error_message = "mariadb needs cores >= 1, ram_gb >= 4 and storage_gb from 10 to 2000."
  }
}

module "infrastructure" {
  source       = "../modules/infrastructure-outputs"
  state_bucket = var.state_bucket
}

locals {
  infra = module.infrastructure.outputs
  # The tenant's database takes host db_host_number of the platform LAN's
  # private range (computed by IONOS). It is fixed in the tenant's file, so
  # adding or removing another tenant never moves it.
  lan_prefix = split("/", local.infra.lan_cidr)[1]
}

provider "kubernetes" {
  host                   = local.infra.k8s_host
  token                  = local.infra.k8s_token
  cluster_ca_certificate = local.infra.k8s_ca_certificate
}

provider "helm" {
  kubernetes = {
    host                   = local.infra.k8s_host
    token                  = local.infra.k8s_token
    cluster_ca_certificate = local.infra.k8s_ca_certificate
  }
}

# Generated credentials: a user of letters, digits and '_' (at most 16) and
# a password of 32 characters (IONOS allows 10 to 63).
resource "random_string" "db_user" {
  length  = 13
  special = false
  upper   = false
}

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "ionoscloud_mariadb_cluster" "tenant" {
  mariadb_version = var.mariadb.version
  location        = local.infra.location
  instances       = 1
  cores           = var.mariadb.cores
  ram             = var.mariadb.ram_gb
  storage_size    = var.mariadb.storage_gb
  display_name    = "wordpress-tenant-${var.instance}"

  connections {
    datacenter_id = local.infra.datacenter_id
    lan_id        = local.infra.lan_id
    cidr          = "${cidrhost(local.infra.lan_cidr, var.db_host_number)}/${local.lan_prefix}"
  }

  credentials {
    username = "wp_${random_string.db_user.result}"
    password = random_password.db.result
  }

  lifecycle {
    precondition {
      condition     = var.db_host_number < pow(2, 32 - tonumber(local.lan_prefix)) - 1
      error_message = "db_host_number ${var.db_host_number} is outside the platform LAN's range ${local.infra.lan_cidr}: pick a free host number inside it."
    }
    precondition {
      # The provider's rule (6.7.34): 1 to 16 characters, starting with a
      # letter, '_' only between letters and digits.
      condition     = can(regex("^[a-zA-Z]([a-zA-Z0-9]+_)*[a-zA-Z0-9]+$", "wp_${random_string.db_user.result}")) && length("wp_${random_string.db_user.result}") <= 16
      error_message = "MariaDB user names are 1 to 16 letters, digits or '_', start with a letter, and have '_' only between letters or digits."
    }
  }
}

resource "kubernetes_namespace_v1" "tenant" {
  metadata {
    name = "wordpress-tenant-${var.instance}"
    labels = {
      "app.kubernetes.io/part-of" = "wordpress-tenants"
    }
  }
}

resource "kubernetes_secret_v1" "db" {
  metadata {
    name      = "wordpress-db"
    namespace = kubernetes_namespace_v1.tenant.metadata[0].name
  }
  data = {
    host     = ionoscloud_mariadb_cluster.tenant.dns_name
    port     = "3306"
    name     = "wordpress"
    user     = ionoscloud_mariadb_cluster.tenant.credentials[0].username
    password = random_password.db.result
  }
}

resource "helm_release" "wordpress" {
  name      = "wordpress"
  chart     = "${path.module}/../../charts/wordpress"
  namespace = kubernetes_namespace_v1.tenant.metadata[0].name
  set = [
    { name = "host", value = var.host },
    { name = "database.existingSecret", value = kubernetes_secret_v1.db.metadata[0].name },
  ]
}

output "host" {
  description = "The tenant's WordPress address."
  value       = var.host
}
