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
    both = json.dumps(doc["variables"]["sqlConnectionString"])
    assert "Authentication=ActiveDirectoryMsi" in both
    assert "Pwd=${sqlPassword}" in both


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
    app = parsed["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    wired = json.dumps(app["appInsightsConnectionString"])
    assert '"monitoring"' in wired and '"connectionString"' in wired


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
