# Destroying or replacing a managed database loses its data: the
# PostgreSQL cluster of Authentik (infrastructure) and each tenant's
# MariaDB (tenant). Such a plan needs a policy owner's /approve.
package stagebot

databases := {
	"ionoscloud_pg_cluster": "the PostgreSQL cluster",
	"ionoscloud_pg_database": "a PostgreSQL database",
	"ionoscloud_mariadb_cluster": "a tenant's MariaDB cluster",
}

deny contains msg if {
	some rc in input.resource_changes
	what := databases[rc.type]
	"delete" in rc.change.actions
	verb := replaced_or_destroyed(rc.change.actions)
	msg := sprintf("%s (%s) would be %s and its data lost: this needs a policy owner's approval", [rc.address, what, verb])
}

replaced_or_destroyed(actions) := "replaced" if "create" in actions
else := "destroyed"
