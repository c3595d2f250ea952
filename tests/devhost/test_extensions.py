"""Which binding extensions an app has, decided as the Functions host decides it at start, and
the one line devhost prints instead of running functions Azure would leave in error:

- Azure/azure-functions-host src/WebJobs.Script/DependencyInjection/ScriptStartupTypeLocator.cs
  (GetExtensionsStartupTypesAsync: the bundle, else the startup types of extensions.json) and
  src/WebJobs.Script/Utility.cs (TryResolveExtensionsMetadataPath: bin/, the root,
  .azurefunctions/);
- src/WebJobs.Script/ScriptHostBuilderExtensions.cs (the built-in bindings: AddHttp,
  AddTimersWithStorage, AddManualTrigger, AddWarmup);
- src/WebJobs.Script/Description/FunctionDescriptorProvider.cs (VerifyResolvedBindings,
  CreateBindingError) and Diagnostics/Extensions/ScriptHostLoggerExtension.cs (FunctionError:
  "The '{functionName}' function is in error: {errorMessage}");
- src/WebJobs.Script/Host/ProxyFunctionProvider.cs (proxies.json only with EnableProxies).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devhost import cli
from devhost.config import ConfigError
from devhost.extensions import check_extensions, proxies_notice, registered_types
from devhost.process import REPO_ROOT

SMOKE_APP = REPO_ROOT / "tests" / "apps" / "smoke_app"
DURABLE_STARTUP = (
    "Microsoft.Azure.WebJobs.Extensions.DurableTask.DurableTaskWebJobsStartup, "
    "Microsoft.Azure.WebJobs.Extensions.DurableTask, Version=2.0.0.0"
)


def app(root: Path, functions: dict[str, list[str]], host_json: dict[str, object]) -> Path:
    """An app whose functions use these binding types (the first is the trigger)."""
    for name, types in functions.items():
        (root / name).mkdir(parents=True)
        bindings = [{"name": f"b{i}", "type": t, "direction": "in"} for i, t in enumerate(types)]
        (root / name / "function.json").write_text(json.dumps({"bindings": bindings}))
    (root / "host.json").write_text(json.dumps({"version": "2.0", **host_json}))
    return root


def extensions_json(where: Path, *type_names: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    entries = [{"name": "X", "typeName": t, "hintPath": "./x.dll"} for t in type_names]
    (where / "extensions.json").write_text(json.dumps({"extensions": entries}))


def test_a_bundle_resolves_every_binding(tmp_path: Path) -> None:
    bundle = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    root = app(tmp_path, {"Orch": ["orchestrationTrigger"]}, {"extensionBundle": bundle})
    assert registered_types(root, json.loads((root / "host.json").read_text())) is None
    check_extensions(root, {"extensionBundle": bundle})


def test_without_bundle_or_extensions_only_builtin_bindings_exist(tmp_path: Path) -> None:
    root = app(tmp_path, {"Web": ["httpTrigger", "http"], "Tick": ["timerTrigger"]}, {})
    assert registered_types(root, {}) == {
        "httptrigger", "http", "timertrigger", "manualtrigger", "warmuptrigger",
    }  # fmt: skip
    check_extensions(root, {})  # an HTTP-only app needs no extension, in Azure as here


def test_durable_and_blob_functions_without_extensions_are_refused_with_the_hosts_message(
    tmp_path: Path,
) -> None:
    root = app(
        tmp_path,
        {"Client": ["blobTrigger", "durableClient"], "Orch": ["orchestrationTrigger"]},
        {},
    )
    with pytest.raises(ConfigError) as caught:
        check_extensions(root, {})
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(
        "The 'Client' function is in error: The binding type(s) 'blobTrigger, durableClient' are "
        "not registered. Please ensure the type is correct and the binding extension is "
        "installed. (1 more function(s) in error: Orch)"
    )
    assert '"extensionBundle"' in line


@pytest.mark.parametrize("place", ["bin", ".", ".azurefunctions"])
def test_built_extensions_register_their_bindings(tmp_path: Path, place: str) -> None:
    root = app(tmp_path, {"Orch": ["orchestrationTrigger"], "Act": ["activityTrigger"]}, {})
    extensions_json(root / place, DURABLE_STARTUP)
    known = registered_types(root, {})
    assert known is not None and {"orchestrationtrigger", "durableclient"} <= known
    assert "blobtrigger" not in known
    check_extensions(root, {})


def test_built_extensions_without_the_blob_extension_still_refuse_a_blob_trigger(
    tmp_path: Path,
) -> None:
    root = app(tmp_path, {"Orch": ["orchestrationTrigger"], "Blob": ["blobTrigger"]}, {})
    extensions_json(root / "bin", DURABLE_STARTUP)
    with pytest.raises(ConfigError, match=r"^The 'Blob' function is in error: .*'blobTrigger'"):
        check_extensions(root, {})


def test_the_smoke_app_starts_on_its_built_extensions_and_not_without_them(
    tmp_path: Path,
) -> None:
    host_json = json.loads((SMOKE_APP / "host.json").read_text())
    assert "extensionBundle" not in host_json  # as the Durable team's app: dotnet build -o bin
    check_extensions(SMOKE_APP, host_json)
    bare = tmp_path / "smoke"
    shutil.copytree(SMOKE_APP, bare, ignore=shutil.ignore_patterns("bin", "__pycache__"))
    with pytest.raises(ConfigError, match="'DurableFunctionsHttpStart' function is in error"):
        check_extensions(bare, host_json)


def test_this_project_has_a_bundle() -> None:
    host_json = json.loads((REPO_ROOT / "host.json").read_text())
    assert registered_types(REPO_ROOT, host_json) is None
    check_extensions(REPO_ROOT, host_json)


def test_devhost_start_refuses_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = app(tmp_path / "app", {"Orch": ["orchestrationTrigger"]}, {})
    assert cli.main(["start", "--app-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("devhost: The 'Orch' function is in error")


def test_proxies_json_is_announced(tmp_path: Path) -> None:
    assert proxies_notice(tmp_path, {}) is None
    (tmp_path / "proxies.json").write_text('{"proxies": {}}')
    ignored = proxies_notice(tmp_path, {})
    assert ignored is not None and ignored.startswith("proxies.json is ignored")
    flagged = proxies_notice(tmp_path, {"AzureWebJobsFeatureFlags": "Foo, EnableProxies"})
    assert flagged is not None and flagged.startswith("Not as in Azure: proxies.json")
