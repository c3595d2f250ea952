"""The app's binding extensions and proxies, checked at start as the Functions host (v4) does.

Extensions (Azure/azure-functions-host ScriptStartupTypeLocator.GetExtensionsStartupTypesAsync):
with `extensionBundle` in host.json the bundle's extensions load; without it the host loads the
startup types listed in `bin/extensions.json` (else `extensions.json` at the root, else
`.azurefunctions/extensions.json`: Utility.TryResolveExtensionsMetadataPath), which `dotnet build`
of an extensions.csproj writes; with neither, only the host's built-in bindings exist
(ScriptHostBuilderExtensions: AddHttp, AddTimersWithStorage, AddManualTrigger, AddWarmup). A
function using any other type is then in error (FunctionDescriptorProvider.VerifyResolvedBindings:
"The binding type(s) '...' are not registered...") and never runs in Azure, so devhost refuses
to start with that message instead of running it.

Proxies (ProxyFunctionProvider): the v4 host reads proxies.json only when AzureWebJobsFeatureFlags
holds EnableProxies, and ignores it without a word otherwise; devhost serves no proxies either
way and says so in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devhost.config import ConfigError
from devhost.loader import read_function_json

BUILT_IN = frozenset({"httptrigger", "http", "timertrigger", "manualtrigger", "warmuptrigger"})
DURABLE = ("orchestrationTrigger", "activityTrigger", "entityTrigger", "orchestrationClient",
           "durableClient", "entityClient")  # fmt: skip
# The binding types each extension's startup type registers, by the type's short name (what
# extensions.json's `typeName` starts with), for the extensions devhost implements.
STARTUP_BINDINGS: dict[str, tuple[str, ...]] = {
    "DurableTaskWebJobsStartup": DURABLE,
    "AzureStorageBlobsWebJobsStartup": ("blob", "blobTrigger"),
    "AzureStorageQueuesWebJobsStartup": ("queue", "queueTrigger"),
    "AzureStorageWebJobsStartup": ("blob", "blobTrigger", "queue", "queueTrigger", "table"),
}
METADATA_PLACES = ("bin", ".", ".azurefunctions")
BUNDLE_REMEDY = (
    'add "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", '
    '"version": "[4.*, 5.0.0)"} to host.json'
)
PROXIES_FLAG = "EnableProxies"  # ScriptConstants.FeatureFlagEnableProxies


def metadata_file(app_dir: Path) -> Path | None:
    for place in METADATA_PLACES:
        candidate = app_dir / place / "extensions.json"
        if candidate.is_file():
            return candidate
    return None


def _registered_by(entry: Any) -> set[str]:
    if not isinstance(entry, dict):
        return set()
    listed = entry.get("bindings") or entry.get("Bindings")
    if isinstance(listed, list) and listed:
        return {str(b).lower() for b in listed}
    type_name = str(entry.get("typeName") or entry.get("TypeName") or "")
    short = type_name.split(",", 1)[0].rsplit(".", 1)[-1].strip()
    return {t.lower() for t in STARTUP_BINDINGS.get(short, ())}


def registered_types(app_dir: Path, host_json: dict[str, Any]) -> frozenset[str] | None:
    """The binding types (lower case) the host can resolve; None when a bundle is configured."""
    if isinstance(host_json.get("extensionBundle"), dict):
        return None
    found = set(BUILT_IN)
    path = metadata_file(app_dir)
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError:  # ScriptStartUpUnableParseMetadata: logged, no extensions load
            data = {}
        entries = data.get("extensions") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            found |= _registered_by(entry)
    return frozenset(found)


def check_extensions(app_dir: Path, host_json: dict[str, Any]) -> None:
    """Refuse an app whose functions use bindings no loaded extension registers."""
    known = registered_types(app_dir, host_json)
    if known is None:
        return
    errors = []
    for conf in sorted(app_dir.glob("*/function.json")):
        _, bindings = read_function_json(conf.parent)
        missing = list(dict.fromkeys(b.type for b in bindings if b.type.lower() not in known))
        if missing:
            errors.append((conf.parent.name, ", ".join(missing)))
    if not errors:
        return
    name, types = errors[0]
    others = f" ({len(errors) - 1} more function(s) in error: " + ", ".join(
        n for n, _ in errors[1:]
    ) + ")" if len(errors) > 1 else ""  # fmt: skip
    where = "no extensionBundle in host.json and no bin/extensions.json"
    raise ConfigError(
        f"The '{name}' function is in error: The binding type(s) '{types}' are not registered. "
        f"Please ensure the type is correct and the binding extension is installed.{others} "
        f"[{where}: Azure runs none of these functions; {BUNDLE_REMEDY}]"
    )


def proxies_notice(app_dir: Path, settings: dict[str, str]) -> str | None:
    """The one line to print when the app has a proxies.json, else None."""
    if not (app_dir / "proxies.json").is_file():
        return None
    flags = {f.strip().lower() for f in settings.get("AzureWebJobsFeatureFlags", "").split(",")}
    if PROXIES_FLAG.lower() in flags:
        return (
            "Not as in Azure: proxies.json is served by Functions v4 only because "
            f"AzureWebJobsFeatureFlags has {PROXIES_FLAG}; devhost serves no proxies "
            "(Microsoft's replacement is Azure API Management)"
        )
    return (
        "proxies.json is ignored: Functions v4 reads it only when AzureWebJobsFeatureFlags "
        f"has {PROXIES_FLAG} (ProxyFunctionProvider), so in Azure its routes answer 404 as "
        "here (Microsoft's replacement is Azure API Management)"
    )
