# Shared by scripts/plan-stages and scripts/apply-stages: a copy of the
# platform's stages in a work directory, with the infrastructure stage's
# outputs from a stub state instead of Object Storage (nothing of IONOS is
# created or called), local backends, the charts of remote repositories,
# and Terraform run with no environment of the host's but dummy IONOS
# credentials. Source it after setting `me` (the script's name); it sets
# `tf`, `cli_config` and `work`.

say() { printf '%s: %s\n' "$me" "$*" >&2; }
could_not_run() { say "could not run: $*"; exit 3; }

tf=${STAGEBOT_TERRAFORM_BIN:-terraform}
command -v "$tf" >/dev/null 2>&1 || could_not_run "no Terraform: '$tf' is not on PATH (set STAGEBOT_TERRAFORM_BIN)"

# check_stages names: exits 2 when a stage does not exist.
check_stages() {
	local s
	for s in "$@"; do
		[ -d "terraform/$s" ] || { say "no stage terraform/$s"; exit 2; }
	done
}

# --- provider installation ---------------------------------------------------
registry=${STAGEBOT_PLAN_STAGES_REGISTRY:-https://registry.terraform.io}
cli_config=${TF_CLI_CONFIG_FILE:-}
if [ -n "$cli_config" ] && [ -f "$cli_config" ]; then
	say "providers: as $cli_config says"
elif curl -fsS --max-time 10 -o /dev/null "$registry/.well-known/terraform.json" 2>/dev/null; then
	say "providers: the public registry ($registry)"
	cli_config=/dev/null
else
	could_not_run "no provider installation: TF_CLI_CONFIG_FILE names no file (${TF_CLI_CONFIG_FILE:-unset}) and $registry does not answer. Point TF_CLI_CONFIG_FILE at a CLI config with a filesystem_mirror of the providers (see terraform/README.md)."
fi

# --- a copy of the stages ----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/$me.XXXXXX")
cp -r terraform charts stagebot.yaml "$work/"
rm -rf "$work"/terraform/*/.terraform "$work"/terraform/*/.terraform.lock.hcl

# stub_infrastructure host token ca_file: every output the infrastructure
# stage declares, with a value of its shape and its sensitivity (the
# downstream stages see them as they would), the cluster's from the
# arguments; and the remote-state module pointed at it.
stub_infrastructure() {
	local host=$1 token=$2 ca name outputs
	ca=$(awk 'BEGIN{ORS="\\n"} {print}' "$3")
	outputs=$(cat <<JSON
{
  "kubeconfig":         {"sensitive": true,  "type": "string", "value": "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"clusters\":[],\"users\":[],\"contexts\":[]}"},
  "k8s_host":           {"sensitive": true,  "type": "string", "value": "$host"},
  "k8s_token":          {"sensitive": true,  "type": "string", "value": "$token"},
  "k8s_ca_certificate": {"sensitive": true,  "type": "string", "value": "$ca"},
  "postgres_host":      {"sensitive": false, "type": "string", "value": "pg-stub.postgresql.de-fra.ionos.com"},
  "postgres_port":      {"sensitive": false, "type": "number", "value": 5432},
  "postgres_database":  {"sensitive": false, "type": "string", "value": "authentik"},
  "postgres_user":      {"sensitive": false, "type": "string", "value": "authentik_stub"},
  "postgres_password":  {"sensitive": true,  "type": "string", "value": "stub-password-0123456789"},
  "datacenter_id":      {"sensitive": false, "type": "string", "value": "4a7b5c2e-1d3f-4e6a-8b9c-0d1e2f3a4b5c"},
  "lan_id":             {"sensitive": false, "type": "string", "value": "1"},
  "lan_cidr":           {"sensitive": false, "type": "string", "value": "10.7.222.0/24"},
  "location":           {"sensitive": false, "type": "string", "value": "de/fra"},
  "domain":             {"sensitive": false, "type": "string", "value": "platform.example.com"},
  "hosts":              {"sensitive": false, "type": ["object", {"authentik": "string", "openwebui": "string"}], "value": {"authentik": "auth.platform.example.com", "openwebui": "chat.platform.example.com"}},
  "tenant_domain":      {"sensitive": false, "type": "string", "value": "sites.platform.example.com"},
  "ingress_ip":         {"sensitive": false, "type": "string", "value": "203.0.113.10"},
  "dns_nameservers":    {"sensitive": false, "type": ["list", "string"], "value": ["ns-ic.ui-dns.com", "ns-ic.ui-dns.de"]}
}
JSON
)
	for name in $(sed -n 's/^output "\([A-Za-z0-9_-]*\)".*/\1/p' terraform/infrastructure/*.tf); do
		grep -q "\"$name\":" <<<"$outputs" || { say "the stub has no value for infrastructure output $name: add one to scripts/lib/stages.sh"; exit 1; }
	done
	cat > "$work/infrastructure.tfstate" <<JSON
{"version": 4, "terraform_version": "1.10.0", "serial": 1, "lineage": "$me-stub", "outputs": $outputs, "resources": []}
JSON
	cat > "$work/terraform/modules/infrastructure-outputs/stub_override.tf" <<HCL
# $me: the infrastructure outputs from a stub state file.
data "terraform_remote_state" "infrastructure" {
  backend = "local"
  config  = { path = "$work/infrastructure.tfstate" }
}
HCL
}

# local_backends stages: state stays in the work dir, not in Object Storage.
local_backends() {
	local s
	for s in "$@"; do
		printf '# %s: state in the work dir, not in Object Storage.\nterraform {\n  backend "local" {}\n}\n' "$me" > "$work/terraform/$s/backend_override.tf"
	done
}

# helm_releases dir: "name chart repository" of each helm_release (repository
# "-" for a local chart), as the stage's own files say (not our overrides).
helm_releases() {
	find "$1" -maxdepth 1 -name '*.tf' ! -name '*_override.tf' -print0 | xargs -0 awk '
		/^resource "helm_release" "/ { split($0, q, "\""); name = q[4]; chart = ""; repo = "-" }
		name != "" && /^  chart +=/      { split($0, q, "\""); chart = q[2] }
		name != "" && /^  repository +=/ { split($0, q, "\""); repo = q[2] }
		name != "" && /^}/ { print name, chart, repo; name = "" }
	'
}

# offer_charts dir: remote charts from STAGEBOT_PLAN_STAGES_CHARTS when it
# has them, else from their repository if it answers. Prints the stage's
# problem, if any.
charts_dir=${STAGEBOT_PLAN_STAGES_CHARTS:-}
offer_charts() {
	local dir=$1 name chart repo
	while read -r name chart repo; do
		[ "$repo" != - ] || continue
		if [ -n "$charts_dir" ] && [ -f "$charts_dir/$chart/Chart.yaml" ]; then
			printf 'resource "helm_release" "%s" {\n  repository = null\n  chart      = "%s"\n}\n' \
				"$name" "$(cd "$charts_dir/$chart" && pwd)" >> "$dir/charts_override.tf"
		elif ! curl -fsS --max-time 10 -o /dev/null "${repo%/}/index.yaml" 2>/dev/null; then
			echo "chart $chart of helm_release.$name: $repo does not answer and STAGEBOT_PLAN_STAGES_CHARTS has no $chart/"
		fi
	done < <(helm_releases "$dir")
}

# run_tf args...: Terraform with no environment of the host's but the
# dummy credentials.
mkdir -p "$work/home"
run_tf() {
	env -i PATH="$PATH" HOME="$work/home" TF_CLI_CONFIG_FILE="$cli_config" \
		TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_PLUGIN_CACHE_DIR= \
		IONOS_TOKEN=plan-stages-dummy-token \
		"$tf" "$@"
}

# init_stage stage: installs its providers and charts; prints why not and
# returns 1 when it cannot.
init_stage() {
	local dir="$work/terraform/$1" missing out
	missing=$(offer_charts "$dir")
	if [ -n "$missing" ]; then
		printf '%s\n' "$missing" | sed "s/^/$me: /" >&2
		say "$1: could not run: its charts cannot be had"
		return 1
	fi
	if ! out=$(cd "$dir" && run_tf init -input=false -no-color 2>&1); then
		printf '%s\n' "$out" >&2
		say "$1: could not run: terraform init could not install its providers"
		return 1
	fi
}

# units stage: the stage, or one tenant:<name> per tenant file.
units() {
	if [ "$1" = tenant ]; then
		(cd "$work/terraform/tenants" && ls *.tfvars | sed 's/\.tfvars$//; s/^/tenant:/')
	else
		echo "$1"
	fi
}

# unit_args unit: the variables stagebot gives an instance.
unit_args() {
	[ "$1" = "${1#tenant:}" ] || printf '%s\n' -var-file="$work/terraform/tenants/${1#tenant:}.tfvars" -var "instance=${1#tenant:}"
}
