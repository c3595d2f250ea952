"""Recording stand-ins for `az`, `func` and `curl`: Azure cannot be reached from the tests.

`install(bin_dir)` writes executables that call `az_main` / `func_main` / `curl_main`. Each call
appends {"tool", "argv", "cwd"} to $FAKE_AZURE/calls.jsonl and answers what deploy.sh asks the
way the real tool does. State lives in $FAKE_AZURE: firewall rules, whether the app exists, the
published package URL (a SAS URL, i.e. a secret), every deployment's merged parameters.

FAKE_FAIL="deployment sub create" (any consecutive argv words) makes matching calls exit 1.
FAKE_SQL_FQDN / FAKE_SQL_DATABASE override the deployment outputs the migration connects to.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_URL = (
    "https://imagemetadatastorage.blob.core.windows.net/function-releases/20261125.zip"
    "?sv=2025-01-05&se=2036-11-25&sr=b&sp=r&sig=c2VjcmV0LXNhcy1zaWduYXR1cmU%3D"
)


def install(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("az", "func", "curl"):
        path = bin_dir / tool
        path.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from tests.deploy import standins\n"
            f"sys.exit(standins.{tool}_main(sys.argv[1:]))\n"
        )
        path.chmod(0o755)


def state_dir() -> Path:
    return Path(os.environ["FAKE_AZURE"])


def calls(state: Path) -> list[dict[str, Any]]:
    path = state / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _record(tool: str, argv: list[str]) -> None:
    with (state_dir() / "calls.jsonl").open("a") as f:
        f.write(json.dumps({"tool": tool, "argv": argv, "cwd": os.getcwd()}) + "\n")


def _has(argv: list[str], words: str) -> bool:
    want = words.split()
    return any(argv[i : i + len(want)] == want for i in range(len(argv)))


def _failing(argv: list[str]) -> bool:
    key = os.environ.get("FAKE_FAIL", "")
    return bool(key) and _has(argv, key)


def _opt(argv: list[str], name: str, default: str = "") -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def _load(name: str, default: Any) -> Any:
    path = state_dir() / name
    return json.loads(path.read_text()) if path.exists() else default


def _save(name: str, value: Any) -> None:
    (state_dir() / name).write_text(json.dumps(value))


def _parameters(argv: list[str]) -> dict[str, Any]:
    """Merged values of every --parameters @file / key=value, in order (later wins)."""
    merged: dict[str, Any] = {}
    for i, arg in enumerate(argv[:-1]):
        if arg != "--parameters":
            continue
        value = argv[i + 1]
        if value.startswith("@"):
            doc = json.loads(Path(value[1:]).read_text())
            merged.update({k: v.get("value") for k, v in doc["parameters"].items()})
        elif "=" in value:
            k, v = value.split("=", 1)
            merged[k] = v
    return merged


def az_main(argv: list[str]) -> int:  # noqa: PLR0911 - one branch per az command
    _record("az", argv)
    if _failing(argv):
        print(f"ERROR: (InjectedFailure) {' '.join(argv[:4])} failed", file=sys.stderr)
        return 1
    query = _opt(argv, "--query")
    if argv[:2] == ["account", "show"]:
        account = {
            "id": "00000000-0000-0000-0000-000000000000",
            "name": "Test subscription",
            "user": {"name": "dev@contoso.com", "type": os.environ.get("FAKE_USER_TYPE", "user")},
        }
        if query == "user.type":
            print(account["user"]["type"])
        elif query == "user.name":
            print(account["user"]["name"])
        elif query == "[name, id]":
            print(f"{account['name']}\n{account['id']}")
        else:
            print(json.dumps(account))
        return 0
    if argv[:2] == ["account", "get-access-token"]:
        print("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-entra-token")
        return 0
    if argv[:2] == ["ad", "signed-in-user"]:
        print("11111111-2222-3333-4444-555555555555\ndev@contoso.com")
        return 0
    if argv[:2] == ["ad", "sp"]:
        print("99999999-2222-3333-4444-555555555555\ndeploy-ci")
        return 0
    if argv[:2] == ["functionapp", "show"]:
        if not _load("app.json", None):
            print("ERROR: (ResourceNotFound) The Resource was not found.", file=sys.stderr)
            return 3
        print(json.dumps(_load("app.json", None)))
        return 0
    if argv[:4] == ["functionapp", "config", "appsettings", "list"]:
        print(_load("package_url.json", ""))
        return 0
    if argv[:3] == ["deployment", "sub", "what-if"]:
        params = _parameters(argv)
        _save("what_if.json", {"parameters": params, "files": _param_files(argv)})
        print("Resource and property changes are indicated with these symbols:\n  + Create")
        print(f"Scope: /subscriptions/.../resourceGroups/{params.get('resourceGroupName')}")
        print("Resource changes: 9 to create.")
        return 0
    if argv[:3] == ["deployment", "sub", "create"]:
        params = _parameters(argv)
        deployments = _load("deployments.json", [])
        deployments.append({"parameters": params, "files": _param_files(argv)})
        _save("deployments.json", deployments)
        _save("app.json", {"name": params["functionAppName"], "state": "Running"})
        server = params["sqlServerName"]
        outputs = {
            "resourceGroupName": params["resourceGroupName"],
            "functionAppName": params["functionAppName"],
            "functionAppPrincipalId": "77777777-2222-3333-4444-555555555555",
            "storageAccountName": params["storageAccountName"],
            "blobContainerName": params["containerName"],
            "sqlServerFqdn": os.environ.get("FAKE_SQL_FQDN", f"{server}.database.windows.net"),
            "sqlDatabaseName": os.environ.get("FAKE_SQL_DATABASE", params["sqlDatabaseName"]),
            "sqlAppLogin": params.get("sqlAppLogin", "imagemeta_app"),
        }
        print(json.dumps({k: {"type": "String", "value": v} for k, v in outputs.items()}))
        return 0
    if argv[:4] == ["sql", "server", "firewall-rule", "create"]:
        rules = _load("firewall.json", {})
        name = _opt(argv, "-n")
        rules[name] = {"server": _opt(argv, "-s"), "ip": _opt(argv, "--start-ip-address")}
        _save("firewall.json", rules)
        print(json.dumps({"name": name}))
        return 0
    if argv[:4] == ["sql", "server", "firewall-rule", "delete"]:
        rules = _load("firewall.json", {})
        if rules.pop(_opt(argv, "-n"), None) is None:
            print("ERROR: (ResourceNotFound) firewall rule not found", file=sys.stderr)
            return 3
        _save("firewall.json", rules)
        return 0
    print(f"az stand-in: unexpected command {argv}", file=sys.stderr)
    return 2


def _param_files(argv: list[str]) -> list[str]:
    return [a[1:] for a in argv if a.startswith("@")]


def func_main(argv: list[str]) -> int:
    """`func azure functionapp publish APP --python`: records what Core Tools would upload."""
    _record("func", argv)
    if _failing(argv):
        print("Error: injected publish failure", file=sys.stderr)
        return 1
    if argv[:3] != ["azure", "functionapp", "publish"]:
        print(f"func stand-in: unexpected command {argv}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from scripts.build_package import package_files  # noqa: PLC0415 - the project's builder

    files = package_files(Path.cwd())  # Core Tools zips the cwd minus .funcignore
    publishes = _load("publishes.json", [])
    publishes.append({"app": argv[3], "files": files})
    _save("publishes.json", publishes)
    _save("package_url.json", PACKAGE_URL)
    print(f"Uploading {len(files)} files... Deployment successful.")
    return 0


def curl_main(argv: list[str]) -> int:
    _record("curl", argv)
    print("curl stand-in: no network in the tests", file=sys.stderr)
    return 7
