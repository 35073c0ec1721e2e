# Traffic from the internet: one static public IP, which the cluster stage
# gives to the ingress controller's LoadBalancer Service (IONOS attaches it
# to a worker node of the public node pool), and the DNS zone of var.domain
# with a record per public host pointing at it.

locals {
  # Every public hostname, from var.domain alone.
  hosts = {
    authentik = "auth.${var.domain}"
    openwebui = "chat.${var.domain}"
  }
  tenant_domain = "sites.${var.domain}"
  # Record names relative to the zone.
  records = {
    authentik = "auth"
    openwebui = "chat"
    tenants   = "*.sites"
  }
}

resource "ionoscloud_ipblock" "ingress" {
  name     = "${var.name}-ingress"
  location = ionoscloud_datacenter.this.location
  size     = 1
}

resource "ionoscloud_dns_zone" "this" {
  name        = var.domain
  description = "Public hosts of the ${var.name} platform (managed by stagebot)"
  enabled     = true
}

resource "ionoscloud_dns_record" "ingress" {
  for_each = local.records

  zone_id = ionoscloud_dns_zone.this.id
  name    = each.value
  type    = "A"
  content = ionoscloud_ipblock.ingress.ips[0]
  ttl     = 300
  enabled = true
}
