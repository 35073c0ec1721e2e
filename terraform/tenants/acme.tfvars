# Tenant acme: one WordPress with its own managed MariaDB, in namespace
# wordpress-tenant-acme. stagebot plans and applies this file's tenant on
# its own (stage tenant:acme, its own state tenants/acme.tfstate).
host           = "acme.sites.example.com"
db_host_number = 10
