variable "name" {
  type        = string
  description = "Name prefix of every resource of the platform."
  default     = "platform"
}

variable "location" {
  type        = string
  description = "IONOS location of the datacenter, cluster and databases (e.g. de/txl, de/fra)."
  default     = "de/txl"
}

variable "k8s_version" {
  type        = string
  description = "Kubernetes version of the cluster and its node pool."
  default     = "1.33"
}

variable "node_pool" {
  type = object({
    min_nodes    = number
    max_nodes    = number
    cores        = number
    ram_mb       = number
    storage_gb   = number
    cpu_family   = string
    storage_type = string
  })
  description = "Worker nodes: autoscaling bounds and the size of each node."
  default = {
    min_nodes    = 2
    max_nodes    = 5
    cores        = 4
    ram_mb       = 8192
    storage_gb   = 50
    cpu_family   = "INTEL_SKYLAKE"
    storage_type = "SSD"
  }

  validation {
    condition     = var.node_pool.min_nodes >= 1 && var.node_pool.max_nodes >= var.node_pool.min_nodes
    error_message = "node_pool needs min_nodes >= 1 and max_nodes >= min_nodes."
  }
}

variable "postgres" {
  type = object({
    version      = string
    instances    = number
    cores        = number
    ram_mb       = number
    storage_mb   = number
    storage_type = string
  })
  description = "The managed PostgreSQL cluster for Authentik."
  default = {
    version      = "15"
    instances    = 1
    cores        = 2
    ram_mb       = 4096
    storage_mb   = 20480
    storage_type = "SSD Premium"
  }
}

variable "postgres_host_number" {
  type        = number
  description = "Host number of the PostgreSQL cluster's address in the private LAN's range (IONOS computes the range). The tenants' databases take 10 upwards."
  default     = 5

  validation {
    condition     = var.postgres_host_number >= 1 && var.postgres_host_number <= 9
    error_message = "postgres_host_number must be from 1 to 9: 10 upwards belong to the tenants' databases."
  }
}

variable "maintenance_window" {
  type = object({
    day_of_the_week = string
    time            = string
  })
  description = "Weekly window in which IONOS may maintain the cluster and databases."
  default = {
    day_of_the_week = "Sunday"
    time            = "03:00:00Z"
  }
}
