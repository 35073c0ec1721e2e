variable "tenants" {
  type = map(object({
    host = string
  }))
  description = "Tenants by name (a DNS label): each gets a namespace wordpress-tenant-<name>, a MariaDB cluster and a WordPress."

  validation {
    condition     = alltrue([for name in keys(var.tenants) : can(regex("^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$", name))])
    error_message = "Tenant names must be DNS labels of at most 30 characters: lower-case letters, digits and '-', not starting or ending with '-'."
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
  infra   = module.infrastructure.outputs
  names   = sort(keys(var.tenants))
  tenants = { for i, name in local.names : name => merge(var.tenants[name], { index = i }) }
  # Each tenant's database takes an address in the platform LAN's private
  # range (computed by IONOS): host 10 upwards, one per tenant in name
  # order. Hosts below 10 are the infrastructure stage's (PostgreSQL).
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
  for_each = local.tenants
  length   = 13
  special  = false
  upper    = false
}

resource "random_password" "db" {
  for_each = local.tenants
  length   = 32
  special  = false
}

resource "ionoscloud_mariadb_cluster" "tenant" {
  for_each        = local.tenants
  mariadb_version = var.mariadb.version
  location        = local.infra.location
  instances       = 1
  cores           = var.mariadb.cores
  ram             = var.mariadb.ram_gb
  storage_size    = var.mariadb.storage_gb
  display_name    = "wordpress-tenant-${each.key}"

  connections {
    datacenter_id = local.infra.datacenter_id
    lan_id        = local.infra.lan_id
    cidr          = "${cidrhost(local.infra.lan_cidr, 10 + each.value.index)}/${local.lan_prefix}"
  }

  credentials {
    username = "wp_${random_string.db_user[each.key].result}"
    password = random_password.db[each.key].result
  }

  lifecycle {
    precondition {
      condition     = 10 + each.value.index < pow(2, 32 - tonumber(local.lan_prefix)) - 1
      error_message = "The platform LAN's range ${local.infra.lan_cidr} has no address left for another tenant's database."
    }
    precondition {
      # The provider's rule (6.7.34): 1 to 16 characters, starting with a
      # letter, '_' only between letters and digits.
      condition     = can(regex("^[a-zA-Z]([a-zA-Z0-9]+_)*[a-zA-Z0-9]+$", "wp_${random_string.db_user[each.key].result}")) && length("wp_${random_string.db_user[each.key].result}") <= 16
      error_message = "MariaDB user names are 1 to 16 letters, digits or '_', start with a letter, and have '_' only between letters or digits."
    }
  }
}

resource "kubernetes_namespace_v1" "tenant" {
  for_each = local.tenants
  metadata {
    name = "wordpress-tenant-${each.key}"
    labels = {
      "app.kubernetes.io/part-of" = "wordpress-tenants"
    }
  }
}

resource "kubernetes_secret_v1" "db" {
  for_each = local.tenants
  metadata {
    name      = "wordpress-db"
    namespace = kubernetes_namespace_v1.tenant[each.key].metadata[0].name
  }
  data = {
    host     = ionoscloud_mariadb_cluster.tenant[each.key].dns_name
    port     = "3306"
    name     = "wordpress"
    user     = ionoscloud_mariadb_cluster.tenant[each.key].credentials[0].username
    password = random_password.db[each.key].result
  }
}

resource "helm_release" "wordpress" {
  for_each  = local.tenants
  name      = "wordpress"
  chart     = "${path.module}/../../charts/wordpress"
  namespace = kubernetes_namespace_v1.tenant[each.key].metadata[0].name
  set = [
    { name = "host", value = each.value.host },
    { name = "database.existingSecret", value = kubernetes_secret_v1.db[each.key].metadata[0].name },
  ]
}

output "tenant_hosts" {
  description = "Each tenant's WordPress address."
  value       = { for name, t in var.tenants : name => t.host }
}
