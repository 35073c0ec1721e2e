# What every app of the cluster relies on, applied after infrastructure and
# before stagebot writes its Secrets and the platform stage installs the
# apps: the namespaces, the ingress controller behind the static IP, the
# certificates, and the least-privileged ServiceAccount stagebot writes its
# Secrets with.

module "infrastructure" {
  source       = "../modules/infrastructure-outputs"
  state_bucket = var.state_bucket
}

locals {
  infra = module.infrastructure.outputs
  # stagebot.yaml's secrets as they are in this commit: the secret writer
  # may touch exactly these Secrets and restart exactly their workloads.
  secrets           = try(yamldecode(file("${path.module}/../../stagebot.yaml")).secrets, [])
  secret_namespaces = toset([for s in local.secrets : s.namespace])
  namespaces        = toset(concat(var.app_namespaces, ["traefik", "cert-manager", "stagebot"]))
  # The helm provider plans a local chart by its values alone: a digest of
  # its files, passed as a value, makes any change to its templates show in
  # the plan and be applied with it.
  chart_digest = {
    for c in ["cluster-issuer", "secret-writer"] : c => sha256(join("", [
      for f in sort(fileset("${path.module}/../../charts/${c}", "**")) : filesha256("${path.module}/../../charts/${c}/${f}")
    ]))
  }
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

resource "kubernetes_namespace_v1" "this" {
  for_each = local.namespaces
  metadata {
    name = each.key
    labels = {
      "app.kubernetes.io/managed-by" = "stagebot"
    }
  }
}

# The ingress controller: Traefik, the default IngressClass "traefik", behind
# a LoadBalancer Service with the infrastructure stage's static IP, which
# the DNS records point at (charts/traefik/values.yaml).
resource "helm_release" "traefik" {
  name       = "traefik"
  repository = "https://traefik.github.io/charts"
  chart      = "traefik"
  version    = var.traefik_chart_version
  namespace  = kubernetes_namespace_v1.this["traefik"].metadata[0].name
  values = [
    file("${path.module}/../../charts/traefik/values.yaml"),
    yamlencode({ service = { spec = { loadBalancerIP = local.infra.ingress_ip } } }),
  ]
}

# cert-manager with its CRDs, then the ClusterIssuer that needs them: a
# chart of ours rather than kubernetes_manifest, which would need the CRD
# to exist already when the first plan is made.
resource "helm_release" "cert_manager" {
  name       = "cert-manager"
  repository = "https://charts.jetstack.io"
  chart      = "cert-manager"
  version    = var.cert_manager_chart_version
  namespace  = kubernetes_namespace_v1.this["cert-manager"].metadata[0].name
  values     = [file("${path.module}/../../charts/cert-manager/values.yaml")]
}

resource "helm_release" "cluster_issuer" {
  name      = "cluster-issuer"
  chart     = "${path.module}/../../charts/cluster-issuer"
  namespace = kubernetes_namespace_v1.this["cert-manager"].metadata[0].name
  values = [yamlencode({
    acme        = { server = var.acme_server, email = var.acme_email }
    chartDigest = local.chart_digest["cluster-issuer"]
  })]
  depends_on = [helm_release.cert_manager, helm_release.traefik]
}

# The ServiceAccount stagebot writes its Secrets with: Roles for exactly the
# Secrets and restart targets of stagebot.yaml (charts/secret-writer), in
# namespaces made above.
resource "helm_release" "secret_writer" {
  name      = "secret-writer"
  chart     = "${path.module}/../../charts/secret-writer"
  namespace = kubernetes_namespace_v1.this["stagebot"].metadata[0].name
  values = [yamlencode({
    serviceAccount = { name = "stagebot-secret-writer" }
    secrets        = [for s in local.secrets : { name = s.name, namespace = s.namespace, restart = try(s.restart, []) }]
    chartDigest    = local.chart_digest["secret-writer"]
  })]
  depends_on = [kubernetes_namespace_v1.this]

  lifecycle {
    # The stage makes the namespaces; one it does not own would be taken
    # over, and destroyed with it when the Secret leaves stagebot.yaml.
    precondition {
      condition     = length(setsubtract(local.secret_namespaces, local.namespaces)) == 0
      error_message = "stagebot.yaml keeps Secrets in namespaces this stage does not make (${join(", ", setsubtract(local.secret_namespaces, local.namespaces))}): add them to app_namespaces."
    }
  }
}

# Its long-lived token, made by the cluster's token controller.
resource "kubernetes_secret_v1" "secret_writer_token" {
  metadata {
    name      = "stagebot-secret-writer-token"
    namespace = helm_release.secret_writer.namespace
    annotations = {
      "kubernetes.io/service-account.name" = "stagebot-secret-writer"
    }
  }
  type                           = "kubernetes.io/service-account-token"
  wait_for_service_account_token = true
}
