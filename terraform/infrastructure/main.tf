resource "ionoscloud_datacenter" "this" {
  name        = var.name
  location    = var.location
  description = "Managed Kubernetes and databases of the ${var.name} platform (managed by stagebot)"
}

# The private LAN the node pool and the managed databases share.
resource "ionoscloud_lan" "private" {
  datacenter_id = ionoscloud_datacenter.this.id
  public        = false
  name          = "${var.name}-private"
}

resource "ionoscloud_k8s_cluster" "this" {
  name        = var.name
  k8s_version = var.k8s_version

  maintenance_window {
    day_of_the_week = var.maintenance_window.day_of_the_week
    time            = var.maintenance_window.time
  }
}

resource "ionoscloud_k8s_node_pool" "workers" {
  datacenter_id     = ionoscloud_datacenter.this.id
  k8s_cluster_id    = ionoscloud_k8s_cluster.this.id
  name              = "${var.name}-workers"
  k8s_version       = ionoscloud_k8s_cluster.this.k8s_version
  cpu_family        = var.node_pool.cpu_family
  availability_zone = "AUTO"
  storage_type      = var.node_pool.storage_type
  node_count        = var.node_pool.min_nodes
  cores_count       = var.node_pool.cores
  ram_size          = var.node_pool.ram_mb
  storage_size      = var.node_pool.storage_gb

  auto_scaling {
    min_node_count = var.node_pool.min_nodes
    max_node_count = var.node_pool.max_nodes
  }

  lans {
    id   = ionoscloud_lan.private.id
    dhcp = true
  }

  maintenance_window {
    day_of_the_week = var.maintenance_window.day_of_the_week
    time            = var.maintenance_window.time
  }

  lifecycle {
    # The autoscaler moves node_count between the bounds.
    ignore_changes = [node_count]
  }
}

# The kubeconfig and API credentials, read once the node pool exists.
data "ionoscloud_k8s_cluster" "this" {
  id         = ionoscloud_k8s_cluster.this.id
  depends_on = [ionoscloud_k8s_node_pool.workers]
}

locals {
  # The private LAN's range (e.g. 10.7.222.0/24), computed by IONOS.
  lan_prefix    = split("/", ionoscloud_lan.private.ipv4_cidr_block)[1]
  postgres_cidr = "${cidrhost(ionoscloud_lan.private.ipv4_cidr_block, var.postgres_host_number)}/${local.lan_prefix}"
}

# Authentik's database: generated credentials, nothing in the repository.
resource "random_string" "postgres_user" {
  length  = 12
  special = false
  upper   = false
  numeric = false
}

resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "ionoscloud_pg_cluster" "authentik" {
  postgres_version     = var.postgres.version
  instances            = var.postgres.instances
  cores                = var.postgres.cores
  ram                  = var.postgres.ram_mb
  storage_size         = var.postgres.storage_mb
  storage_type         = var.postgres.storage_type
  location             = ionoscloud_datacenter.this.location
  display_name         = "${var.name}-authentik"
  synchronization_mode = "ASYNCHRONOUS"

  connections {
    datacenter_id = ionoscloud_datacenter.this.id
    lan_id        = ionoscloud_lan.private.id
    # An address of the LAN's own private range, which IONOS assigns when
    # the LAN is created; host number var.postgres_host_number of it.
    cidr = local.postgres_cidr
  }

  maintenance_window {
    day_of_the_week = var.maintenance_window.day_of_the_week
    time            = trimsuffix(var.maintenance_window.time, "Z")
  }

  credentials {
    username = "authentik_${random_string.postgres_user.result}"
    password = random_password.postgres.result
  }
}

resource "ionoscloud_pg_database" "authentik" {
  cluster_id = ionoscloud_pg_cluster.authentik.id
  name       = "authentik"
  owner      = ionoscloud_pg_cluster.authentik.credentials[0].username
}
