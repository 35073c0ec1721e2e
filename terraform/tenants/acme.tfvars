# Tenant acme: one WordPress with its own managed MariaDB, in namespace
# wordpress-tenant-acme, at acme.sites.<domain>. stagebot plans and applies
# this file's tenant on its own (stage tenant:acme, its own state
# tenants/acme.tfstate).
db_host_number = 10
