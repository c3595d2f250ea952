"""The Bicep templates parse and still declare every seed resource, name, SKU and setting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.check_infra import INFRA, parse_all

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    return {p.relative_to(INFRA).as_posix(): d for p, d in parse_all().items()}


def resources_of(doc: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r["config"] for r in doc["resources"].values() if r["type"] == rtype]


def test_every_template_parses(parsed: dict[str, dict[str, Any]]) -> None:
    assert set(parsed) == {
        "main.bicep",
        "modules/storage.bicep",
        "modules/functionapp.bicep",
        "modules/sql.bicep",
        "modules/monitoring.bicep",
    }


def test_seed_names_are_the_parameter_defaults(parsed: dict[str, dict[str, Any]]) -> None:
    params = parsed["main.bicep"]["parameters"]
    defaults = {k: v["default"] for k, v in params.items()}
    assert defaults["resourceGroupName"] == "image-metadata-rg"
    assert defaults["location"] == "eastus"
    assert defaults["storageAccountName"] == "imagemetadatastorage"
    assert defaults["containerName"] == "images-input"
    assert defaults["functionAppName"] == "imagemetadatafuncapp"
    assert defaults["sqlServerName"] == "imagemetadata-sqlsrv"
    assert defaults["sqlDatabaseName"] == "imagemetadata-db"
    # Secrets are secure parameters with no default.
    for secret in ("sqlAdminLogin", "sqlAdminPassword"):
        assert {"type": "secure"} in params[secret]["decorators"]
        assert params[secret]["default"] is None
    # The parameters file carries the same seed values.
    file_values = {
        k: v["value"]
        for k, v in json.loads((INFRA / "main.parameters.json").read_text())["parameters"].items()
    }
    assert all(defaults[k] == v for k, v in file_values.items())
    assert "sqlAdminPassword" not in file_values


def test_resource_group_is_created_at_subscription_scope(
    parsed: dict[str, dict[str, Any]],
) -> None:
    main = parsed["main.bicep"]
    assert main["globals"]["scope"]["value"] == "subscription"
    assert resources_of(main, "Microsoft.Resources/resourceGroups")


def test_storage_is_private_v2_lrs_tls12(parsed: dict[str, dict[str, Any]]) -> None:
    doc = parsed["modules/storage.bicep"]
    (account,) = resources_of(doc, "Microsoft.Storage/storageAccounts")
    assert account["kind"] == "StorageV2"
    assert account["sku"]["name"] == "Standard_LRS"
    props = account["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    (container,) = resources_of(doc, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


def test_function_app_is_linux_consumption_python311(parsed: dict[str, dict[str, Any]]) -> None:
    doc = parsed["modules/functionapp.bicep"]
    (plan,) = resources_of(doc, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "Y1", "tier": "Dynamic"}
    assert plan["properties"]["reserved"] is True
    (site,) = resources_of(doc, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "SystemAssigned"
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["reserved"] is True  # issue 15 item 8: Linux site
    config = site["properties"]["siteConfig"]
    assert config["linuxFxVersion"] == "Python|3.11"
    assert config["minTlsVersion"] == "1.2"
    names = {s["name"]: s["value"] for s in doc["variables"]["baseSettings"]["value"]}
    assert names["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert names["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    assert {
        "AzureWebJobsStorage",
        "SqlConnectionString",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    } <= set(names)
    # WEBSITE_RUN_FROM_PACKAGE is written only when a package URL is known (publish sets it).
    package = json.dumps(doc["variables"]["packageSettings"])
    assert '"name": "WEBSITE_RUN_FROM_PACKAGE"' in package


def test_sql_connection_strings_use_odbc18_and_support_managed_identity(
    parsed: dict[str, dict[str, Any]],
) -> None:
    doc = parsed["modules/functionapp.bicep"]
    server_part = doc["variables"]["sqlServerPart"]["value"]
    assert server_part.startswith("Driver={ODBC Driver 18 for SQL Server};Server=tcp:")
    assert "Encrypt=yes;TrustServerCertificate=no" in server_part
    operands = doc["variables"]["sqlConnectionString"]["value"]["operator"]["operands"]
    assert operands["true_value"].endswith(";Authentication=ActiveDirectoryMsi")
    # Issue 15 item 5: values in braces with '}' doubled, so ; { } ' and spaces survive.
    password_mode = operands["false_value"]
    assert "Pwd={${replace(sqlPassword, '}', '}}')}}" in password_mode
    assert "Uid={${replace(sqlLogin, '}', '}}')}}" in password_mode
    assert "Pwd=${" not in password_mode


def test_app_connects_as_its_own_user_never_the_admin(parsed: dict[str, dict[str, Any]]) -> None:
    """Issue 12 item 8: the app's SQL login is the contained user, not the server admin."""
    main = parsed["main.bicep"]
    app = main["modules"]["functionApp"]["config"]["params"]
    assert app["sqlLogin"] == "sqlAppLogin" and app["sqlPassword"] == "sqlAppPassword"
    assert "sqlAdmin" not in json.dumps(app)
    params = main["parameters"]
    assert params["sqlAppLogin"]["default"] == "imagemeta_app"
    assert {"type": "secure"} in params["sqlAppPassword"]["decorators"]
    assert params["sqlAuthMode"]["default"] == "managedIdentity"  # the documented default


def test_what_if_can_expand_the_function_app_module(parsed: dict[str, dict[str, Any]]) -> None:
    """Issue 15 item 7: no parameter of the app module is another module's output."""
    module = parsed["main.bicep"]["modules"]["functionApp"]["config"]
    assert "outputs" not in json.dumps(module["params"])
    assert set(module["dependsOn"]) == {"storage", "monitoring", "sql"}
    resources = parsed["modules/functionapp.bicep"]["resources"]
    # Run-time values are read inside the module from existing resources instead.
    assert resources["appInsights"]["existing"] and resources["storage"]["existing"]
    assert resources["appInsights"]["type"] == "Microsoft.Insights/components"


def test_sql_has_its_own_location(parsed: dict[str, dict[str, Any]]) -> None:
    """Issue 15 item 8: SQL can go elsewhere when a region restricts SQL provisioning."""
    main = parsed["main.bicep"]
    assert main["parameters"]["sqlLocation"]["default"] == "eastus"
    assert main["modules"]["sql"]["config"]["params"]["location"] == "sqlLocation"
    for name in ("storage", "monitoring", "functionApp"):
        assert main["modules"][name]["config"]["params"]["location"] == "location"


def test_sql_server_firewall_and_basic_database(parsed: dict[str, dict[str, Any]]) -> None:
    doc = parsed["modules/sql.bicep"]
    (server,) = resources_of(doc, "Microsoft.Sql/servers")
    assert server["properties"]["minimalTlsVersion"] == "1.2"
    rules = {
        r["name"]: r["properties"] for r in resources_of(doc, "Microsoft.Sql/servers/firewallRules")
    }
    assert rules["AllowAzureServices"] == {"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}
    (db,) = resources_of(doc, "Microsoft.Sql/servers/databases")
    assert db["sku"]["name"] == "Basic"


def test_app_insights_is_wired(parsed: dict[str, dict[str, Any]]) -> None:
    assert resources_of(parsed["modules/monitoring.bicep"], "Microsoft.Insights/components")
    main = parsed["main.bicep"]["modules"]
    # monitoring names the component '${baseName}-ai' with baseName = functionAppName; the app
    # module reads that same component (existing) for its connection string.
    assert main["monitoring"]["config"]["params"]["baseName"] == "functionAppName"
    (component,) = resources_of(parsed["modules/monitoring.bicep"], "Microsoft.Insights/components")
    assert component["name"] == "${baseName}-ai"
    assert main["functionApp"]["config"]["params"]["appInsightsName"] == "${functionAppName}-ai"
    settings = parsed["modules/functionapp.bicep"]["variables"]["baseSettings"]["value"]
    wired = json.dumps(
        next(s for s in settings if s["name"] == "APPLICATIONINSIGHTS_CONNECTION_STRING")
    )
    assert "appInsights" in wired and "ConnectionString" in wired


def test_outputs_name_the_app_storage_and_sql(parsed: dict[str, dict[str, Any]]) -> None:
    outputs = parsed["main.bicep"]["outputs"]
    assert {"functionAppName", "storageAccountName", "sqlServerFqdn"} <= set(outputs)


def test_deploy_script_is_valid_bash_and_fails_clearly_without_az(tmp_path: Path) -> None:
    script = INFRA / "deploy.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no az, no func on PATH
    (tmp_path / "dirname").symlink_to("/usr/bin/dirname")
    proc = subprocess.run(
        ["/bin/bash", str(script), "--yes"], check=False, capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0
    assert "Azure CLI 'az' is not installed" in proc.stderr


def test_function_app_denies_inbound_except_operator_cidrs(
    parsed: dict[str, dict[str, Any]],
) -> None:
    """Issue 20 item 10: the Durable and admin endpoints were public. The blob trigger needs
    no inbound access, so the main site denies every address but the operators' CIDRs
    (none by default); the SCM site keeps its own rules (publish goes there)."""
    main = parsed["main.bicep"]
    assert main["parameters"]["operatorCidrs"]["type"] == "array"
    assert main["parameters"]["operatorCidrs"]["default"] == []
    assert main["modules"]["functionApp"]["config"]["params"]["operatorCidrs"] == "operatorCidrs"
    doc = parsed["modules/functionapp.bicep"]
    (site,) = resources_of(doc, "Microsoft.Web/sites")
    config = site["properties"]["siteConfig"]
    assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert config["ipSecurityRestrictions"] == "operatorRules"
    assert config["scmIpSecurityRestrictionsUseMain"] is False
    rules = doc["variables"]["operatorRules"]["value"]
    assert rules["loop_type"]["detail"]["array_name"] == "operatorCidrs"
    assert rules["config"]["action"] == "Allow" and rules["config"]["ipAddress"] == "cidr"


def test_basic_auth_publishing_credentials_are_off(parsed: dict[str, dict[str, Any]]) -> None:
    """Issue 20 item 10: FTP and SCM basic-auth publishing were enabled. Both policies are
    allow=false; publishing goes through Kudu with the deployer's Entra token."""
    doc = parsed["modules/functionapp.bicep"]
    policies = [
        r["config"]
        for r in doc["resources"].values()
        if r["type"] == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    ]
    assert {p["name"]: p["properties"]["allow"] for p in policies} == {"ftp": False, "scm": False}
    assert all(p["parent"] == "site" for p in policies)
    # deploy.sh publishes with `func azure functionapp publish` (Core Tools sends the az login
    # token to Kudu) and never asks for a publish profile or publishing credentials.
    lines = (INFRA / "deploy.sh").read_text().splitlines()
    code = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#")).lower()
    assert "func azure functionapp publish" in code
    for basic in ("publish-profile", "publishingcredentials", "list-publishing", "scm."):
        assert basic not in code


def test_sql_is_entra_only_by_default_with_managed_identity(
    parsed: dict[str, dict[str, Any]],
) -> None:
    """Issue 20 item 10: SQL authentication stayed on. With the default managedIdentity mode
    the server is Entra-only (after its Entra admin exists); password mode, which needs SQL
    logins, leaves it off whatever the parameter says."""
    main = parsed["main.bicep"]
    assert main["parameters"]["sqlEntraOnlyAuth"]["default"] is True
    assert main["parameters"]["sqlAuthMode"]["default"] == "managedIdentity"
    condition = main["modules"]["sql"]["config"]["params"]["entraOnlyAuth"]["operator"]
    assert condition["type"] == "and"
    assert condition["operands"]["operand_1"] == "sqlEntraOnlyAuth"
    mode = condition["operands"]["operand_2"]["operator"]
    assert (mode["type"], *mode["operands"].values()) == (
        "equals",
        "sqlAuthMode",
        "managedIdentity",
    )
    sql = parsed["modules/sql.bicep"]["resources"]["entraOnly"]
    assert sql["type"] == "Microsoft.Sql/servers/azureADOnlyAuthentications"
    assert sql["config"]["condition"] == "entraOnlyAuth"
    body = sql["config"]["config"]
    assert body["name"] == "Default" and body["properties"] == {"azureADOnlyAuthentication": True}
    assert body["dependsOn"] == ["entraAdmin"]
