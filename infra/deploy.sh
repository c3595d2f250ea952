#!/usr/bin/env bash
# Deploy the image metadata pipeline to Azure, start to finish:
#   1. preview (what-if) and the plan, confirm   2. deploy infra/main.bicep
#   3. apply the SQL migration + the app's database user (temporary firewall rule for this machine)
#   4. func azure functionapp publish
# Every step is idempotent: re-running updates in place. Runs on bash 3.2+ (macOS) and Linux.
#
# Usage: SQL_ADMIN_LOGIN=... SQL_ADMIN_PASSWORD=... infra/deploy.sh [--yes] [--skip-publish]
#        [--skip-migrate] [--location eastus] [--sql-location eastus]
#        [--parameters infra/main.parameters.json] [--sql-auth managedIdentity|password]
# Environment: SQL_APP_PASSWORD (password mode; generated when unset), DEPLOY_PYTHON (the
#        Python 3.9-3.13 for the migration), DEPLOY_CLIENT_IP (this machine's public IP, when
#        api.ipify.org cannot tell), DEPLOY_ODBC_DRIVER (ODBC driver name or path),
#        DEPLOY_MIGRATE_WAIT (seconds to wait for the firewall rule, default 300).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
params="$here/main.parameters.json"
location=""
sql_location=""
sql_auth=""
assume_yes=0
skip_publish=0
skip_migrate=0
migrate_wait="${DEPLOY_MIGRATE_WAIT:-300}"

die() { echo "deploy: error: $*" >&2; exit 1; }
step() { echo; echo "==> $*"; }

# --- Cleanup: every temporary file and firewall rule goes, on success, failure or Ctrl-C -------
tmp_dir=""
fw_rule=""
fw_group=""
fw_server=""
cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$fw_rule" ]; then
    echo "==> Removing the temporary firewall rule $fw_rule"
    if ! az sql server firewall-rule delete -g "$fw_group" -s "$fw_server" -n "$fw_rule" >/dev/null 2>&1; then
      echo "deploy: warning: could not remove firewall rule $fw_rule; remove it with:" >&2
      echo "  az sql server firewall-rule delete -g $fw_group -s $fw_server -n $fw_rule" >&2
    fi
  fi
  if [ -n "$tmp_dir" ]; then rm -rf "$tmp_dir"; fi
  if [ "$status" != 0 ]; then
    echo "deploy: stopped (exit $status). Every step is idempotent: fix the cause and run infra/deploy.sh again." >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

while [ $# -gt 0 ]; do
  case "$1" in
    --yes|-y) assume_yes=1 ;;
    --skip-publish) skip_publish=1 ;;
    --skip-migrate) skip_migrate=1 ;;
    --location) location="${2:?--location needs a value}"; shift ;;
    --sql-location) sql_location="${2:?--sql-location needs a value}"; shift ;;
    --parameters) params="${2:?--parameters needs a file}"; shift ;;
    --sql-auth) sql_auth="${2:?--sql-auth needs a value}"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

# Without a terminal `read` would hit end of input: refuse up front, before touching anything.
if [ "$assume_yes" = 0 ] && [ ! -t 0 ]; then
  die "no terminal to confirm the plan on (stdin is not a TTY): run this in a terminal, or pass --yes to apply without confirmation (CI)"
fi

command -v az >/dev/null 2>&1 || die "the Azure CLI 'az' is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
if [ "$skip_publish" = 0 ]; then
  command -v func >/dev/null 2>&1 || die "Azure Functions Core Tools 'func' (v4) is not installed: https://learn.microsoft.com/azure/azure-functions/functions-run-local (or pass --skip-publish)"
fi

# A Python 3.9-3.13 for the helpers and the migration (not necessarily the app's 3.11).
find_python() {
  local candidate
  for candidate in "${DEPLOY_PYTHON:-python3}" python3.13 python3.12 python3.11 python3.10 python3.9 python3; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
py=$(find_python) || die "no Python 3.9-3.13 found (tried \$DEPLOY_PYTHON, python3.13 ... python3.9, python3)"

az account show >/dev/null 2>&1 || die "not logged in to Azure: run 'az login' (and 'az account set -s <subscription>')"
[ -n "${SQL_ADMIN_LOGIN:-}" ] || die "set SQL_ADMIN_LOGIN (the SQL server administrator login; never committed)"
[ -n "${SQL_ADMIN_PASSWORD:-}" ] || die "set SQL_ADMIN_PASSWORD (the SQL server administrator password; never committed)"
[ -f "$params" ] || die "parameters file not found: $params"

param_value() {
  "$py" -c 'import json,sys; p=json.load(open(sys.argv[1]))["parameters"]; print(p.get(sys.argv[2], {}).get("value", sys.argv[3]))' "$params" "$1" "$2"
}
rg=$(param_value resourceGroupName image-metadata-rg)
app=$(param_value functionAppName imagemetadatafuncapp)
[ -n "$location" ] || location=$(param_value location eastus)
[ -n "$sql_location" ] || sql_location=$(param_value sqlLocation eastus)
[ -n "$sql_auth" ] || sql_auth=$(param_value sqlAuthMode managedIdentity)
app_login=$(param_value sqlAppLogin imagemeta_app)
case "$sql_auth" in
  password|managedIdentity) ;;
  *) die "--sql-auth must be managedIdentity or password, not '$sql_auth'" ;;
esac
deployment="image-metadata-$(date +%Y%m%d%H%M%S)"

tmp_dir=$(mktemp -d "${TMPDIR:-/tmp}/image-metadata-deploy.XXXXXX")
chmod 700 "$tmp_dir"

# Keep the currently published package across template re-deploys (Linux Consumption stores it
# as a URL in WEBSITE_RUN_FROM_PACKAGE; the template only writes that setting when given one).
package_url=""
if az functionapp show -g "$rg" -n "$app" >/dev/null 2>&1; then
  package_url=$(az functionapp config appsettings list -g "$rg" -n "$app" \
    --query "[?name=='WEBSITE_RUN_FROM_PACKAGE'].value | [0]" -o tsv 2>/dev/null || true)
fi

entra_login=""
entra_id=""
if [ "$sql_auth" = "managedIdentity" ]; then
  # The deployer (user or service principal) becomes the server's Entra admin, so the migration
  # can create the app's identity as a database user.
  if [ "$(az account show --query user.type -o tsv)" = "servicePrincipal" ]; then
    me=$(az ad sp show --id "$(az account show --query user.name -o tsv)" --query '[id, displayName]' -o tsv) \
      || die "managedIdentity mode: cannot read the signed-in service principal (az ad sp show)"
  else
    me=$(az ad signed-in-user show --query '[id, userPrincipalName]' -o tsv) \
      || die "managedIdentity mode needs a signed-in Entra user to become the SQL Entra admin (or use --sql-auth password)"
  fi
  me=$(echo "$me" | tr '\t' '\n')  # az prints a list one value per line; accept tabs too
  entra_id=$(echo "$me" | sed -n 1p)
  entra_login=$(echo "$me" | sed -n 2p)
  if [ -z "$entra_id" ] || [ -z "$entra_login" ]; then die "managedIdentity mode: could not read the signed-in identity's id and name"; fi
fi

app_password=""
if [ "$sql_auth" = "password" ] && [ "$skip_migrate" = 1 ] && [ -z "${SQL_APP_PASSWORD:-}" ]; then
  # A fresh password would reach the app setting but not the database user (the migration sets
  # it): the app could no longer log in.
  die "--sql-auth password with --skip-migrate needs SQL_APP_PASSWORD (the app user's current password)"
fi
if [ "$sql_auth" = "password" ]; then
  # The app's own contained user (SELECT, INSERT on ImageMetadata only): a fresh password per run
  # unless SQL_APP_PASSWORD is set; the deployment writes it to the app setting, the migration
  # to the database.
  app_password=${SQL_APP_PASSWORD:-$("$py" -c 'import secrets; print("Ap1-" + secrets.token_urlsafe(30))')}
fi

# Secrets and run-time values reach az through a parameters file (mode 600, in $tmp_dir, removed
# on exit), never on a command line (visible to every user in `ps`).
secrets_file="$tmp_dir/deploy.parameters.json"
(
  umask 077
  SQL_APP_PASSWORD="$app_password" PACKAGE_URL="$package_url" LOCATION="$location" \
  SQL_LOCATION="$sql_location" SQL_AUTH="$sql_auth" ENTRA_ID="$entra_id" ENTRA_LOGIN="$entra_login" \
  "$py" - "$secrets_file" <<'EOF'
import json, os, sys
env = os.environ
values = {
    "location": env["LOCATION"],
    "sqlLocation": env["SQL_LOCATION"],
    "sqlAuthMode": env["SQL_AUTH"],
    "sqlAdminLogin": env["SQL_ADMIN_LOGIN"],
    "sqlAdminPassword": env["SQL_ADMIN_PASSWORD"],
    "sqlAppPassword": env["SQL_APP_PASSWORD"],
    "runFromPackageUrl": env["PACKAGE_URL"],
    "sqlEntraAdminObjectId": env["ENTRA_ID"],
    "sqlEntraAdminLogin": env["ENTRA_LOGIN"],
}
doc = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {k: {"value": v} for k, v in values.items()},
}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(doc, f)
EOF
)
deploy_args=(--location "$location" --template-file "$here/main.bicep"
  --parameters "@$params" --parameters "@$secrets_file")

step "Preview (what-if)"
az deployment sub what-if --name "$deployment" "${deploy_args[@]}"

client_ip=""
fw_name="deploy-$(hostname | tr -cd 'a-zA-Z0-9-' | cut -c1-40)-$$"
sql_server=$(param_value sqlServerName imagemetadata-sqlsrv)
if [ "$skip_migrate" = 0 ]; then
  client_ip=${DEPLOY_CLIENT_IP:-}
  if [ -z "$client_ip" ]; then
    client_ip=$(curl -fsS --max-time 10 https://api.ipify.org 2>/dev/null) \
      || die "cannot find this machine's public IP (api.ipify.org): set DEPLOY_CLIENT_IP, or pass --skip-migrate"
  fi
  echo "$client_ip" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' || die "not an IPv4 address: '$client_ip' (set DEPLOY_CLIENT_IP)"
fi

# The package: the allow-list (scripts/build_package.py) copied into $tmp_dir/app, where publish
# runs, so nothing else in the working tree (.env, .venv*, *.bak, .azure/) can be uploaded.
stage_dir="$tmp_dir/app"
package_count=$("$py" "$root/scripts/build_package.py" --app-dir "$root" --stage "$stage_dir" | tail -n 1 | cut -d' ' -f1)

step "Plan"
echo "  Subscription:   $(az account show --query '[name, id]' -o tsv | paste -sd' ' -)"
echo "  1. Deploy infra/main.bicep as '$deployment' (the what-if above): resource group $rg in $location, SQL server $sql_server in $sql_location, SQL auth $sql_auth"
if [ "$skip_migrate" = 0 ]; then
  echo "  2. Allow $client_ip on $sql_server with the temporary firewall rule $fw_name (removed when this script ends)"
  if [ "$sql_auth" = "password" ]; then
    echo "     Apply imagemeta/schema/tsql; contained user [$app_login] gets SELECT, INSERT on ImageMetadata (the app connects as it)"
  else
    echo "     Apply imagemeta/schema/tsql as Entra admin $entra_login; the app's identity [$app] gets SELECT, INSERT on ImageMetadata"
  fi
  echo "     Migration environment: $("$py" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])') + pyodbc + ODBC Driver 18"
else
  echo "  2. (--skip-migrate) no firewall rule, no migration"
fi
if [ "$skip_publish" = 0 ]; then
  echo "  3. func azure functionapp publish $app --python from a staged copy of the package: $package_count files (the four function folders, imagemeta/, host.json, requirements.txt)"
else
  echo "  3. (--skip-publish) no publish"
fi
if [ "$assume_yes" = 0 ]; then
  answer=""
  printf 'Apply this plan? [y/N] '
  read -r answer || answer=""
  case "$answer" in
    y|Y|yes|YES) ;;
    *) die "cancelled: nothing was changed" ;;
  esac
fi

step "Deploy infrastructure ($deployment; a first run takes 3-8 minutes)"
outputs=$(az deployment sub create --name "$deployment" "${deploy_args[@]}" --query properties.outputs -o json)
out() { "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["value"])' "$1" <<EOF
$outputs
EOF
}
sql_fqdn=$(out sqlServerFqdn)
sql_db=$(out sqlDatabaseName)
app=$(out functionAppName)
storage=$(out storageAccountName)
container=$(out blobContainerName)
echo "Function App: $app   SQL: $sql_fqdn/$sql_db   Storage: $storage"

# The migration's own environment: pyodbc + the driver wheel only, outside the repository (so
# publish never uploads it), cached per Python version and requirements.
migration_python() {
  local cache ver want venv
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/image-metadata-deploy"
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  want=$(cksum < "$here/requirements-migrate.txt")
  venv="$cache/migrate-py$ver"
  if [ "$(cat "$venv/.requirements" 2>/dev/null || true)" != "$want" ]; then
    echo "Building the migration environment ($venv: pyodbc + ODBC driver, 34 MB with pip)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$py" -m venv "$venv" >&2 || die "python -m venv failed (Debian/Ubuntu: sudo apt-get install python3-venv)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --ignore-requires-python \
      -r "$here/requirements-migrate.txt" >&2 || die "pip install of infra/requirements-migrate.txt failed"
    echo "$want" > "$venv/.requirements"
  fi
  echo "$venv/bin/python"
}

if [ "$skip_migrate" = 0 ]; then
  step "Apply the SQL migration (imagemeta/schema/tsql) and the app's database access"
  fw_group=$rg
  fw_server=${sql_fqdn%%.*}
  fw_rule=$fw_name  # set first: cleanup also runs if the create is interrupted
  az sql server firewall-rule create -g "$fw_group" -s "$fw_server" -n "$fw_rule" \
    --start-ip-address "$client_ip" --end-ip-address "$client_ip" >/dev/null
  mpy=$(migration_python)
  if [ "$sql_auth" = "password" ]; then app_user=$app_login; else app_user=$app; fi
  (cd "$root" && SQL_APP_PASSWORD="$app_password" "$mpy" "$here/migrate.py" \
    --server "$sql_fqdn" --database "$sql_db" --app-auth "$sql_auth" --app-user "$app_user" \
    --wait "$migrate_wait" --interval "${DEPLOY_MIGRATE_INTERVAL:-15}") || die "the migration failed (see above); the infrastructure is deployed"
  az sql server firewall-rule delete -g "$fw_group" -s "$fw_server" -n "$fw_rule" >/dev/null
  fw_rule=""
fi

# Publish authenticates to the app's SCM (Kudu) site with the signed-in Entra token (Core Tools
# sends `Authorization: Bearer`), so it works with basic-auth publishing credentials off (the
# template's basicPublishingCredentialsPolicies) and is not subject to operatorCidrs, which
# restrict only the main site.
if [ "$skip_publish" = 0 ]; then
  step "Publish the function app (remote build; 1-3 minutes)"
  (cd "$stage_dir" && func azure functionapp publish "$app" --python)
fi

step "Done. Upload an image to try it (Consumption cold start: up to a minute):"
echo "  az storage blob upload --auth-mode login --account-name $storage -c $container -f samples/<file> -n <file>"
