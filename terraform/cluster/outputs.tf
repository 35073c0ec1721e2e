output "secret_writer_kubeconfig" {
  description = "Kubeconfig of the secret writer (YAML): stagebot writes the Secrets of stagebot.yaml with it, and may do nothing else in the cluster."
  sensitive   = true
  value = yamlencode({
    apiVersion = "v1"
    kind       = "Config"
    clusters = [{
      name    = "platform"
      cluster = { server = local.infra.k8s_host, "certificate-authority-data" = base64encode(local.infra.k8s_ca_certificate) }
    }]
    users = [{
      name = "stagebot-secret-writer"
      user = { token = kubernetes_secret_v1.secret_writer_token.data.token }
    }]
    contexts = [{
      name    = "stagebot-secret-writer"
      context = { cluster = "platform", user = "stagebot-secret-writer" }
    }]
    current-context = "stagebot-secret-writer"
  })
}

output "ingress_class" {
  description = "IngressClass of the ingress controller, which every app's and tenant's Ingress names."
  value       = "traefik"
}

output "cluster_issuer" {
  description = "ClusterIssuer that signs the Ingresses' certificates (cert-manager.io/cluster-issuer)."
  value       = "letsencrypt"
}
