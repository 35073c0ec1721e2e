variable "state_bucket" {
  type        = string
  description = "Object Storage bucket that holds the stages' state."
  default     = "platform-tfstate"
}

variable "traefik_chart_version" {
  type        = string
  description = "Pinned version of the Traefik chart (traefik.github.io/charts): the ingress controller of every app and tenant."
  default     = "41.3.0"
}

variable "cert_manager_chart_version" {
  type        = string
  description = "Pinned version of the cert-manager chart (charts.jetstack.io), which installs its CRDs with it."
  default     = "v1.21.1"
}

variable "acme_server" {
  type        = string
  description = "ACME directory the ClusterIssuer letsencrypt orders certificates from: Let's Encrypt's production one, or its staging one (https://acme-staging-v02.api.letsencrypt.org/directory) while trying things out."
  default     = "https://acme-v02.api.letsencrypt.org/directory"

  validation {
    condition     = startswith(var.acme_server, "https://")
    error_message = "acme_server must be an https:// ACME directory URL."
  }
}

variable "acme_email" {
  type        = string
  description = "Address the ACME server may write to about the account; empty: none (Let's Encrypt sends no expiry mail any more)."
  default     = ""

  validation {
    condition     = var.acme_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.acme_email))
    error_message = "acme_email must be empty or an e-mail address."
  }
}

variable "app_namespaces" {
  type        = list(string)
  description = "Namespaces of the platform's apps, made here so that the secret writer's Roles have somewhere to live before the platform stage installs into them. Every namespace of stagebot.yaml's secrets must be one of them."
  default     = ["admin-apps", "open-webui"]

  validation {
    condition     = alltrue([for n in var.app_namespaces : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", n)) && !startswith(n, "kube-")])
    error_message = "app_namespaces must be DNS labels, none of Kubernetes' own (kube-*)."
  }
}
