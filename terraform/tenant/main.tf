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

variable "mariadb_network" {
  type        = string
  description = "Private network (CIDR) in which each tenant's MariaDB gets an address."
  default     = "10.7.222.0/24"
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
    ram_gb     = 2
    storage_gb = 10
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
  instances       = 1
  cores           = var.mariadb.cores
  ram             = var.mariadb.ram_gb
  storage_size    = var.mariadb.storage_gb
  display_name    = "wordpress-tenant-${each.key}"

  connections {
    datacenter_id = local.infra.datacenter_id
    lan_id        = local.infra.lan_id
    # .10 upwards, one address per tenant in name order.
    cidr = "${cidrhost(var.mariadb_network, 10 + each.value.index)}/${split("/", var.mariadb_network)[1]}"
  }

  credentials {
    username = "wp_${random_string.db_user[each.key].result}"
    password = random_password.db[each.key].result
  }

  lifecycle {
    precondition {
      condition     = can(regex("^[A-Za-z0-9_]{1,16}$", "wp_${random_string.db_user[each.key].result}"))
      error_message = "MariaDB user names are 1 to 16 letters, digits or '_'."
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
