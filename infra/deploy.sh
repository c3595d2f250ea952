#!/usr/bin/env bash
# Deploy the image metadata pipeline to Azure, start to finish:
#   1. preview (what-if)  2. deploy infra/main.bicep  3. apply the SQL migration
#   4. func azure functionapp publish
# Every step is idempotent: re-running updates in place.
#
# Usage: SQL_ADMIN_LOGIN=... SQL_ADMIN_PASSWORD=... infra/deploy.sh [--yes] [--skip-publish]
#        [--skip-migrate] [--location eastus] [--parameters infra/main.parameters.json]
#        [--sql-auth password|managedIdentity]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
params="$here/main.parameters.json"
location="eastus"
assume_yes=0
skip_publish=0
skip_migrate=0
sql_auth="password"

die() { echo "deploy: error: $*" >&2; exit 1; }
step() { echo; echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --yes|-y) assume_yes=1 ;;
    --skip-publish) skip_publish=1 ;;
    --skip-migrate) skip_migrate=1 ;;
    --location) location="$2"; shift ;;
    --parameters) params="$2"; shift ;;
    --sql-auth) sql_auth="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

command -v az >/dev/null 2>&1 || die "the Azure CLI 'az' is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
if [ "$skip_publish" = 0 ]; then
  command -v func >/dev/null 2>&1 || die "Azure Functions Core Tools 'func' (v4) is not installed: https://learn.microsoft.com/azure/azure-functions/functions-run-local (or pass --skip-publish)"
fi
az account show >/dev/null 2>&1 || die "not logged in to Azure: run 'az login' (and 'az account set -s <subscription>')"
[ -n "${SQL_ADMIN_LOGIN:-}" ] || die "set SQL_ADMIN_LOGIN (the SQL administrator login; never committed)"
[ -n "${SQL_ADMIN_PASSWORD:-}" ] || die "set SQL_ADMIN_PASSWORD (the SQL administrator password; never committed)"
[ -f "$params" ] || die "parameters file not found: $params"

param_value() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['parameters'][sys.argv[2]]['value'])" "$params" "$1"; }
rg=$(param_value resourceGroupName)
app=$(param_value functionAppName)
deployment="image-metadata-$(date +%Y%m%d%H%M%S)"

# Keep the currently published package across template re-deploys (Linux Consumption stores it
# as a URL in WEBSITE_RUN_FROM_PACKAGE; the template only writes that setting when given one).
package_url=""
if az functionapp show -g "$rg" -n "$app" >/dev/null 2>&1; then
  package_url=$(az functionapp config appsettings list -g "$rg" -n "$app" \
    --query "[?name=='WEBSITE_RUN_FROM_PACKAGE'].value | [0]" -o tsv 2>/dev/null || true)
fi

entra_args=()
if [ "$sql_auth" = "managedIdentity" ]; then
  me=$(az ad signed-in-user show --query '{id:id,upn:userPrincipalName}' -o tsv) || die "managedIdentity mode needs a signed-in Entra user to become the SQL Entra admin"
  entra_args=(sqlEntraAdminObjectId="$(echo "$me" | cut -f1)" sqlEntraAdminLogin="$(echo "$me" | cut -f2)")
fi
deploy_args=(
  --location "$location" --template-file "$here/main.bicep" --parameters "@$params"
  --parameters sqlAdminLogin="$SQL_ADMIN_LOGIN" sqlAdminPassword="$SQL_ADMIN_PASSWORD"
  sqlAuthMode="$sql_auth" runFromPackageUrl="${package_url:-}" "${entra_args[@]}"
)

step "Preview (what-if)"
az deployment sub what-if --name "$deployment" "${deploy_args[@]}"
if [ "$assume_yes" = 0 ]; then
  read -r -p "Deploy these changes? [y/N] " answer
  [ "$answer" = "y" ] || [ "$answer" = "Y" ] || die "cancelled"
fi

step "Deploy infrastructure ($deployment)"
outputs=$(az deployment sub create --name "$deployment" "${deploy_args[@]}" --query properties.outputs -o json)
out() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]]['value'])" "$outputs" "$1"; }
sql_fqdn=$(out sqlServerFqdn)
sql_db=$(out sqlDatabaseName)
app=$(out functionAppName)
echo "Function App: $app   SQL: $sql_fqdn/$sql_db   Storage: $(out storageAccountName)"

if [ "$skip_migrate" = 0 ]; then
  step "Apply the SQL migration (imagemeta/schema/tsql)"
  # The machine running this needs network access to the server: add a firewall rule for it.
  my_ip=$(curl -fsS https://api.ipify.org || true)
  if [ -n "$my_ip" ]; then
    az sql server firewall-rule create -g "$rg" -s "${sql_fqdn%%.*}" -n "deploy-$(hostname | tr -cd 'a-zA-Z0-9-')" \
      --start-ip-address "$my_ip" --end-ip-address "$my_ip" >/dev/null
  fi
  venv="$root/.venv-deploy"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/requirements.txt" mssql-python-odbc
  driver=$("$venv/bin/python" -c "import glob,mssql_python_odbc,os; print(sorted(glob.glob(os.path.join(os.path.dirname(mssql_python_odbc.__file__),'libs','linux','*','*','lib','libmsodbcsql-18*.so*')))[-1])" 2>/dev/null || true)
  [ -n "$driver" ] || driver="ODBC Driver 18 for SQL Server"
  conn="Driver={$driver};Server=tcp:$sql_fqdn,1433;Database=$sql_db;Uid=$SQL_ADMIN_LOGIN;Pwd=$SQL_ADMIN_PASSWORD;Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30"
  (cd "$root" && SqlConnectionString="$conn" "$venv/bin/python" -m imagemeta.db migrate)
  if [ "$sql_auth" = "managedIdentity" ]; then
    echo "Grant the app's managed identity access (run once as the Entra admin, e.g. in the portal's query editor):"
    echo "  CREATE USER [$app] FROM EXTERNAL PROVIDER; ALTER ROLE db_datareader ADD MEMBER [$app]; ALTER ROLE db_datawriter ADD MEMBER [$app];"
  fi
fi

if [ "$skip_publish" = 0 ]; then
  step "Publish the function app"
  (cd "$root" && func azure functionapp publish "$app" --python)
fi

step "Done. Upload an image to try it:"
echo "  az storage blob upload --auth-mode login --account-name $(out storageAccountName) -c $(out blobContainerName) -f samples/<file> -n <file>"
