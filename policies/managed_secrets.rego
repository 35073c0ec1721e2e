# stagebot writes these Secrets itself, between cluster and platform
# (stagebot.yaml, secrets:). Terraform must not create them too:
# not as a kubernetes_secret, a kubernetes_manifest, nor from a Helm
# release's values (extraObjects, additionalObjects and the like) or its
# rendered manifest.
package stagebot

managed := {"authentik-env-secrets", "openwebui-oidc"}

deny contains msg if {
	some rc in input.resource_changes
	rc.type in {"kubernetes_secret", "kubernetes_secret_v1"}
	"create" in rc.change.actions
	some m in rc.change.after.metadata
	m.name in managed
	msg := sprintf("%s creates Secret %s, which stagebot manages: remove it", [rc.address, m.name])
}

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "kubernetes_manifest"
	some action in rc.change.actions
	action in {"create", "update"}
	secret_named(rc.change.after.manifest)
	msg := sprintf("%s creates Secret %s, which stagebot manages: remove it", [rc.address, rc.change.after.manifest.metadata.name])
}

deny contains msg if {
	some rc in helm_releases
	some doc in release_documents(rc.change.after)
	walk(doc, [_, node])
	secret_named(node)
	msg := sprintf("%s renders Secret %s, which stagebot manages: drop it from the release's values", [rc.address, node.metadata.name])
}

helm_releases contains rc if {
	some rc in input.resource_changes
	rc.type == "helm_release"
	some action in rc.change.actions
	action in {"create", "update"}
}

# The release's values files and, when the provider renders it, its
# manifest, each parsed as YAML.
release_documents(after) := [doc |
	some text in array.concat(values_of(after), manifest_documents(after))
	is_string(text)
	doc := yaml.unmarshal(text)
]

# values is null when a release sets none.
values_of(after) := after.values if is_array(after.values)
else := []

manifest_documents(after) := split(after.manifest, "\n---") if is_string(after.manifest)
else := []

secret_named(obj) if {
	is_object(obj)
	obj.kind == "Secret"
	obj.metadata.name in managed
}
