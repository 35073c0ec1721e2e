variable "instance" {
  type        = string
  description = "The tenant's name, given by stagebot from its file's name (terraform/tenants/<name>.tfvars): its namespace is wordpress-tenant-<name>."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$", var.instance))
    error_message = "Tenant names must be DNS labels of at most 30 characters: lower-case letters, digits and '-', not starting or ending with '-'."
  }
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
  # The tenant's address follows from the platform's domain; a wildcard
  # DNS record of the infrastructure stage points it at the ingress.
  host = "${var.instance}.${local.infra.tenant_domain}"
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

locals {
  db_user = "wp_${random_string.db_user.result}"
}

# The tenant's database takes host db_host_number of the platform LAN's
# private range (computed by IONOS). It is fixed in the tenant's file, so
# adding or removing another tenant never moves it.
module "database" {
  source   = "../modules/tenant-database"
  name     = "wordpress-tenant-${var.instance}"
  location = local.infra.location
  size     = var.mariadb
  network = {
    datacenter_id = local.infra.datacenter_id
    lan_id        = local.infra.lan_id
    lan_cidr      = local.infra.lan_cidr
    host_number   = var.db_host_number
  }
  credentials = { username = local.db_user, password = random_password.db.result }
}

# Where the database lived before it had a module of its own.
moved {
  from = ionoscloud_mariadb_cluster.tenant
  to   = module.database.ionoscloud_mariadb_cluster.this
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
    host     = module.database.host
    port     = "3306"
    name     = "wordpress"
    user     = local.db_user
    password = random_password.db.result
  }
}

resource "helm_release" "wordpress" {
  name      = "wordpress"
  chart     = "${path.module}/../../charts/wordpress"
  namespace = kubernetes_namespace_v1.tenant.metadata[0].name
  set = [
    { name = "host", value = local.host },
    { name = "database.existingSecret", value = kubernetes_secret_v1.db.metadata[0].name },
    # A local chart is planned by its values alone: its files' digest makes
    # a change to its templates show in the plan.
    { name = "chartDigest", value = sha256(join("", [for f in sort(fileset("${path.module}/../../charts/wordpress", "**")) : filesha256("${path.module}/../../charts/wordpress/${f}")])) },
    # The cluster stage's ingress controller and issuer; HTTPS only.
    { name = "ingress.className", value = "traefik" },
    { name = "ingress.annotations.cert-manager\\.io/cluster-issuer", value = "letsencrypt" },
    { name = "ingress.annotations.traefik\\.ingress\\.kubernetes\\.io/router\\.entrypoints", value = "websecure" },
  ]
}

output "host" {
  description = "The tenant's WordPress address (<instance>.<the platform's tenant domain>)."
  value       = local.host
}
