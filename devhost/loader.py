"""Function discovery and validation: every folder with a function.json, imported as the
Python worker imports it (`__app__.<Folder>`, app root on sys.path)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.config import ConfigError
from devhost.routetemplates import RouteTemplate, RouteTemplateError


def binding_registry() -> Any:
    """azure.functions' converter registry: the worker's own binding converters (untyped)."""
    from azure.functions import meta  # noqa: PLC0415 - not needed to check function.json

    return meta.get_binding_registry()  # type: ignore[no-untyped-call]


TRIGGERS = {"blobTrigger", "orchestrationTrigger", "activityTrigger", "httpTrigger",
            "entityTrigger", "timerTrigger", "queueTrigger"}  # fmt: skip
SUPPORTED_TRIGGERS = {"blobTrigger", "orchestrationTrigger", "activityTrigger", "httpTrigger"}
CLIENT_TYPES = {"durableClient", "orchestrationClient"}
OTHER_TYPES = {"http", "blob", "queue"}


@dataclass
class Binding:
    name: str
    type: str
    direction: str
    raw: dict[str, Any]

    @property
    def is_trigger(self) -> bool:
        return self.type in TRIGGERS


@dataclass
class FunctionSpec:
    name: str
    directory: Path
    bindings: list[Binding]
    func: Callable[..., Any]
    is_async: bool
    disabled: bool = False
    return_binding: Binding | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def trigger(self) -> Binding:
        return next(b for b in self.bindings if b.is_trigger)

    @property
    def inputs(self) -> list[Binding]:
        return [b for b in self.bindings if b.direction == "in" and b.name != "$return"]

    def describe(self, route_prefix: str = "api") -> str:
        t = self.trigger
        detail = t.raw.get("path") or t.raw.get("route") or ""
        if t.type == "httpTrigger":
            methods = ",".join(m.upper() for m in t.raw.get("methods") or ["*"])
            route = f"{route_prefix}/" if route_prefix else ""
            detail = f"[{methods}] /{route}{t.raw.get('route') or self.name}"
        return f"{self.name}: {t.type}" + (f" {detail}" if detail else "")


class LoadError(ConfigError):
    pass


def _install_app_package(app_dir: Path) -> None:
    root = str(app_dir)
    if root not in sys.path:
        sys.path.insert(0, root)
    pkg = sys.modules.get("__app__")
    if pkg is None:
        pkg = types.ModuleType("__app__")
        pkg.__path__ = [root]
        sys.modules["__app__"] = pkg


def _import(app_dir: Path, folder: Path, script: str) -> types.ModuleType:
    script_path = (folder / script).resolve()
    if not script_path.exists():
        raise LoadError(f"function '{folder.name}': scriptFile {script} not found")
    module_name = f"__app__.{folder.name}"
    if script_path.name != "__init__.py":
        # e.g. "scriptFile": "main.py": import the folder's package first, then the module
        module_name += "." + script_path.stem
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        raise LoadError(
            f"function '{folder.name}': importing {module_name} failed: no module named "
            f"'{missing}' (is the package that provides it in requirements.txt and installed?)"
        ) from exc
    except Exception as exc:  # a module that raises at import time
        raise LoadError(
            f"function '{folder.name}': importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc


KNOWN_TYPES = TRIGGERS | CLIENT_TYPES | OTHER_TYPES


def _check_binding_types(folder: Path, bindings: list[Binding]) -> None:
    """Unknown binding types first, before the trigger count and the import, naming them: as
    the host's FunctionDescriptorProvider.VerifyResolvedBindings reports "The binding type(s)
    '...' are not registered" (a misspelt "blobTriger" is not "no trigger")."""
    unknown = [b.type for b in bindings if b.type not in KNOWN_TYPES]
    if unknown:
        names = ", ".join(f"'{t}'" for t in unknown)
        raise LoadError(
            f"function '{folder.name}': unknown binding type {names} (misspelt? devhost knows "
            f"{', '.join(sorted(KNOWN_TYPES))})"
        )


def _check_route(folder: Path, bindings: list[Binding]) -> None:
    """An httpTrigger's route template parsed now: the host fails to map a bad one (an unknown
    constraint, an unclosed `{`) with ASP.NET Core's message, so it is one line at start."""
    for b in bindings:
        if b.type == "httpTrigger":
            try:
                RouteTemplate(str(b.raw.get("route") or folder.name))
            except RouteTemplateError as exc:
                raise LoadError(
                    f"function '{folder.name}': route {b.raw.get('route')!r}: {exc}"
                ) from exc


def _validate(spec: FunctionSpec, settings: dict[str, str]) -> None:
    triggers = [b for b in spec.bindings if b.is_trigger]
    if len(triggers) != 1:
        raise LoadError(
            f"function '{spec.name}': expected exactly one trigger, found {len(triggers)}"
        )
    if triggers[0].type not in SUPPORTED_TRIGGERS:
        raise LoadError(
            f"function '{spec.name}': trigger type '{triggers[0].type}' is not supported by devhost"
        )
    params = inspect.signature(spec.func).parameters
    registry = binding_registry()
    for b in spec.bindings:
        if b.type == "blobTrigger" and not settings.get(
            b.raw.get("connection") or "AzureWebJobsStorage"
        ):
            conn = b.raw.get("connection") or "AzureWebJobsStorage"
            raise LoadError(f"function '{spec.name}': connection setting '{conn}' is not set")
        _validate_storage_binding(spec, b)
        if b.name == "$return":
            continue
        if b.direction == "in" and b.name not in params:
            raise LoadError(f"function '{spec.name}': binding '{b.name}' has no matching parameter")
        ann = spec.annotations.get(b.name)
        converter = registry.get(b.type) if registry else None
        if b.direction == "in" and ann is not None and converter is not None:
            pytype = typing.get_origin(ann) or ann
            if isinstance(pytype, type) and not converter.check_input_type_annotation(pytype):
                raise LoadError(
                    f"function '{spec.name}': type of parameter '{b.name}' ({ann!r}) does not "
                    f"match binding type '{b.type}'"
                )
    binding_names = {b.name for b in spec.bindings}
    for p in params:
        if p not in binding_names and p != "context":
            raise LoadError(
                f"function '{spec.name}': parameter '{p}' has no binding in function.json"
            )


def _validate_storage_binding(spec: FunctionSpec, b: Binding) -> None:
    """Blob in/out and queue out are bound by devhost (devhost.bindings); other directions
    fail at start naming the function and binding instead of passing None silently."""
    if b.type == "blob":
        if b.direction not in ("in", "out"):
            raise LoadError(
                f"function '{spec.name}': blob binding '{b.name}' with direction "
                f"'{b.direction}' is not supported by devhost (use in or out)"
            )
        if "/" not in str(b.raw.get("path", "")):
            raise LoadError(
                f"function '{spec.name}': blob binding '{b.name}' needs a path 'container/blob'"
            )
    if b.type == "queue":
        if b.direction != "out":
            raise LoadError(
                f"function '{spec.name}': queue binding '{b.name}' must be an output "
                "(direction out); queueTrigger is not supported by devhost"
            )
        if not b.raw.get("queueName"):
            raise LoadError(f"function '{spec.name}': queue binding '{b.name}' has no queueName")


def read_function_json(folder: Path) -> tuple[dict[str, Any], list[Binding]]:
    """function.json and its bindings, refused in one line when malformed or when a binding
    type is unknown: nothing is imported yet."""
    try:
        conf = json.loads((folder / "function.json").read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise LoadError(
            f"function '{folder.name}': function.json is not valid JSON: {exc}"
        ) from exc
    raw = conf.get("bindings", []) if isinstance(conf, dict) else None
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise LoadError(
            f"function '{folder.name}': function.json must be an object whose \"bindings\" is "
            "a list of objects"
        )
    bindings = [
        Binding(str(b.get("name")), str(b.get("type")), str(b.get("direction", "in")), b)
        for b in raw
    ]
    _check_binding_types(folder, bindings)
    _check_route(folder, bindings)
    return conf, bindings


def check_function_files(app_dir: Path) -> None:
    """Every function.json read and checked, before anything heavy is imported: a typo in one
    of them is reported within a second, not after the host's imports."""
    for conf in sorted(app_dir.glob("*/function.json")):
        read_function_json(conf.parent)


def load_function(app_dir: Path, folder: Path, settings: dict[str, str]) -> FunctionSpec:
    conf, bindings = read_function_json(folder)
    module = _import(app_dir, folder, conf.get("scriptFile", "__init__.py"))
    entry = conf.get("entryPoint", "main")
    func = getattr(module, entry, None)
    if not callable(func):
        raise LoadError(
            f"function '{folder.name}': entry point '{entry}' not found in {module.__name__}"
        )
    try:
        annotations = typing.get_type_hints(func)
    except Exception:
        annotations = {}
    spec = FunctionSpec(
        name=folder.name,
        directory=folder,
        bindings=bindings,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        disabled=str(settings.get(f"AzureWebJobs.{folder.name}.Disabled", "")).lower() == "true",
        return_binding=next((b for b in bindings if b.name == "$return"), None),
        annotations=annotations,
    )
    _validate(spec, settings)
    return spec


def load_functions(app_dir: Path, settings: dict[str, str]) -> list[FunctionSpec]:
    _install_app_package(app_dir)
    folders = sorted(p.parent for p in app_dir.glob("*/function.json"))
    if not folders:
        raise LoadError(f"no functions found in {app_dir} (no */function.json)")
    return [load_function(app_dir, f, settings) for f in folders]
