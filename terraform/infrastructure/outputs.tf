output "kubeconfig" {
  description = "Kubeconfig of the cluster, as IONOS returns it (JSON). stagebot writes the Authentik secret with it."
  value       = data.ionoscloud_k8s_cluster.this.kube_config
  sensitive   = true
}

output "k8s_host" {
  description = "API server URL of the cluster, for the Kubernetes and Helm providers."
  value       = data.ionoscloud_k8s_cluster.this.server
  # The provider marks the cluster's server, CA and tokens sensitive.
  sensitive = true
}

output "k8s_token" {
  description = "Cluster-admin token, for the Kubernetes and Helm providers."
  value       = data.ionoscloud_k8s_cluster.this.user_tokens["cluster-admin"]
  sensitive   = true
}

output "k8s_ca_certificate" {
  description = "CA certificate of the API server (PEM)."
  value       = data.ionoscloud_k8s_cluster.this.ca_crt
  sensitive   = true
}

output "postgres_host" {
  description = "DNS name of the PostgreSQL cluster."
  value       = ionoscloud_pg_cluster.authentik.dns_name
}

output "postgres_port" {
  description = "PostgreSQL port."
  value       = 5432
}

output "postgres_database" {
  description = "Authentik's database."
  value       = ionoscloud_pg_database.authentik.name
}

output "postgres_user" {
  description = "Authentik's database user."
  value       = ionoscloud_pg_cluster.authentik.credentials[0].username
}

output "postgres_password" {
  description = "Authentik's database password."
  value       = random_password.postgres.result
  sensitive   = true
}

output "datacenter_id" {
  description = "Datacenter of the platform, for the tenants' databases."
  value       = ionoscloud_datacenter.this.id
}

output "lan_id" {
  description = "Private LAN of the platform, for the tenants' databases."
  value       = ionoscloud_lan.private.id
}

output "lan_cidr" {
  description = "Private IPv4 range of the LAN (computed by IONOS): the tenants' databases take addresses in it."
  value       = ionoscloud_lan.private.ipv4_cidr_block
}

output "location" {
  description = "IONOS location of the platform."
  value       = ionoscloud_datacenter.this.location
}

output "domain" {
  description = "The platform's DNS domain."
  value       = var.domain
}

output "hosts" {
  description = "Public hostnames of the platform's apps (authentik, openwebui), each with a DNS record pointing at ingress_ip."
  value       = local.hosts
}

output "tenant_domain" {
  description = "Domain of the tenants' sites: tenant <name> is <name>.<tenant_domain> (a wildcard record points at ingress_ip)."
  value       = local.tenant_domain
}

output "ingress_ip" {
  description = "Static public IP of the ingress controller's LoadBalancer Service."
  value       = ionoscloud_ipblock.ingress.ips[0]
}

output "dns_nameservers" {
  description = "IONOS Cloud DNS name servers of the zone: delegate the domain to them at its registrar (NS records), once."
  value       = ionoscloud_dns_zone.this.nameservers
}
