# Open WebUI's login through Authentik, from the two hostnames alone: each
# app's Ingress (Traefik, HTTPS only, a certificate from cert-manager), and
# what both sides of the OIDC login must agree on: Authentik's issuer URL,
# Open WebUI's address and its redirect URI, which the blueprint allows.
# terraform/platform hands these to the releases and the blueprint's
# ConfigMap; `go test ./terraform` evaluates this module with real Terraform
# and checks that the two sides agree. It needs no provider.
terraform {
  required_version = ">= 1.10.0"
}

variable "hosts" {
  type = object({
    authentik = string
    openwebui = string
  })
  description = "Public hostnames of Authentik and Open WebUI (the infrastructure stage's output hosts)."
}

variable "ingress_class" {
  type        = string
  description = "IngressClass of the ingress controller (the cluster stage's)."
}

variable "cluster_issuer" {
  type        = string
  description = "cert-manager ClusterIssuer that signs the Ingresses' certificates (the cluster stage's)."
}

locals {
  authentik_url = "https://${var.hosts.authentik}"
  openwebui_url = "https://${var.hosts.openwebui}"
  # The Ingresses listen on HTTPS only: plain HTTP is redirected by
  # Traefik's web entry point (charts/traefik/values.yaml).
  annotations = {
    "cert-manager.io/cluster-issuer"                   = var.cluster_issuer
    "traefik.ingress.kubernetes.io/router.entrypoints" = "websecure"
  }
}

output "authentik_values" {
  description = "Values for the Authentik chart, after charts/authentik/values.yaml: its Ingress."
  value = yamlencode({
    server = {
      ingress = {
        enabled          = true
        ingressClassName = var.ingress_class
        annotations      = local.annotations
        hosts            = [var.hosts.authentik]
        tls              = [{ secretName = "authentik-tls", hosts = [var.hosts.authentik] }]
      }
    }
  })
}

output "openwebui_values" {
  description = "Values for the Open WebUI chart, after charts/openwebui/values.yaml: its Ingress, Authentik's issuer, and its own address, from which it builds the redirect URI."
  value = yamlencode({
    ingress = {
      enabled     = true
      class       = var.ingress_class
      annotations = local.annotations
      host        = var.hosts.openwebui
      tls         = true
    }
    sso = {
      oidc = {
        providerUrl = "${local.authentik_url}/application/o/open-webui/.well-known/openid-configuration"
      }
    }
    # Behind the ingress Open WebUI would derive the callback from the
    # request, as http: the one Authentik allows is set instead.
    extraEnvVars = [
      { name = "WEBUI_URL", value = local.openwebui_url },
      { name = "OPENID_REDIRECT_URI", value = "${local.openwebui_url}/oauth/oidc/callback" },
    ]
  })
}

output "blueprint" {
  description = "Authentik's blueprint of Open WebUI's provider and application, with Open WebUI's address."
  value       = templatefile("${path.module}/../../../charts/authentik/blueprints/openwebui.yaml", { openwebui_url = local.openwebui_url })
}

output "urls" {
  description = "Public URLs of Authentik and Open WebUI."
  value       = { authentik = local.authentik_url, openwebui = local.openwebui_url }
}
