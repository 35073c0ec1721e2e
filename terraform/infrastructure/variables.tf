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

variable "domain" {
  type        = string
  description = "The platform's DNS domain, delegated to IONOS Cloud DNS: Authentik is auth.<domain>, Open WebUI chat.<domain>, and tenant <name> <name>.sites.<domain>."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain)) && length(var.domain) <= 200
    error_message = "domain must be a lower-case DNS name of two or more labels (e.g. platform.example.org), with no trailing dot, of at most 200 characters."
  }
}

variable "k8s_version" {
  type = string
  # Three parts, as IONOS reports the version: the provider (6.7) ignores a
  # newer patch that IONOS installs in a maintenance window only when both
  # sides have three parts. "1.33" would show an in-place change of the
  # cluster and its node pool in every plan and every drift check.
  description = "Kubernetes version of the cluster and its node pool, major.minor.patch, one IONOS offers. IONOS upgrades the patch level itself; Terraform then shows no change."
  default     = "1.33.4"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.k8s_version))
    error_message = "k8s_version must be major.minor.patch (e.g. 1.33.4): with two parts the IONOS provider shows a change at every plan once IONOS reports the patch level."
  }
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
