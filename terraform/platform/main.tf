variable "state_bucket" {
  type        = string
  description = "Object Storage bucket that holds the stages' state."
  default     = "platform-tfstate"
}

variable "authentik_chart_version" {
  type        = string
  description = "Pinned version of the Authentik chart (charts.goauthentik.io); >= 2025.12 reads authentik.existingSecret."
  default     = "2025.12.0"
}

variable "openwebui_chart_version" {
  type        = string
  description = "Pinned version of the Open WebUI chart (helm.openwebui.com)."
  default     = "10.2.0"
}

# The cluster and its credentials, from the infrastructure stage's state.
module "infrastructure" {
  source       = "../modules/infrastructure-outputs"
  state_bucket = var.state_bucket
}

locals {
  infra = module.infrastructure.outputs
}

# Both apps' Ingresses and the settings of Open WebUI's login, from the
# hostnames the infrastructure stage derives from its domain. The class
# and issuer are the cluster stage's (terraform/cluster/outputs.tf).
module "login" {
  source         = "../modules/login"
  hosts          = local.infra.hosts
  ingress_class  = "traefik"
  cluster_issuer = "letsencrypt"
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

# Open WebUI's OAuth2 provider and application in Authentik, as a blueprint
# the Authentik worker mounts (charts/authentik/values.yaml, blueprints) and
# applies. Its client secret is read from the environment (!Env), which
# comes from authentik-env-secrets; stagebot writes the same value into
# open-webui/openwebui-oidc for Open WebUI. The namespaces are the cluster
# stage's.
resource "kubernetes_config_map_v1" "authentik_blueprints" {
  metadata {
    name      = "authentik-blueprints-openwebui"
    namespace = "admin-apps"
    labels = {
      "app.kubernetes.io/part-of" = "authentik"
    }
  }
  data = {
    "openwebui.yaml" = module.login.blueprint
  }
}

# Authentik in admin-apps. Its Secret, authentik-env-secrets, is written by
# stagebot from the infrastructure outputs before this stage is applied; the
# chart renders none of its own (charts/authentik/values.yaml).
resource "helm_release" "authentik" {
  name       = "authentik"
  repository = "https://charts.goauthentik.io"
  chart      = "authentik"
  version    = var.authentik_chart_version
  namespace  = "admin-apps"
  values     = [file("${path.module}/../../charts/authentik/values.yaml"), module.login.authentik_values]
  wait       = true
  timeout    = 900
  # The worker mounts the blueprint: it cannot start without it.
  depends_on = [kubernetes_config_map_v1.authentik_blueprints]
}

resource "helm_release" "openwebui" {
  name       = "open-webui"
  repository = "https://helm.openwebui.com/"
  chart      = "open-webui"
  version    = var.openwebui_chart_version
  namespace  = "open-webui"
  values     = [file("${path.module}/../../charts/openwebui/values.yaml"), module.login.openwebui_values]
  depends_on = [helm_release.authentik]
}

output "authentik_namespace" {
  description = "Namespace of Authentik."
  value       = helm_release.authentik.namespace
}

output "openwebui_namespace" {
  description = "Namespace of Open WebUI."
  value       = helm_release.openwebui.namespace
}

output "urls" {
  description = "Where Authentik and Open WebUI answer (HTTPS)."
  value       = module.login.urls
}
