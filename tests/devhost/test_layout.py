"""devhost stays in small parts (the reshape issue's rule): no file over 400 lines, no class over
200, and devhost imports nothing of the app it hosts."""

from __future__ import annotations

import ast
from pathlib import Path

from devhost.process import REPO_ROOT

DEVHOST = REPO_ROOT / "devhost"


def sources() -> list[Path]:
    return sorted(p for p in DEVHOST.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_devhost_file_over_400_lines() -> None:
    long = {str(p.relative_to(REPO_ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) > 400}  # fmt: skip
    assert long == {}


def test_no_devhost_class_over_200_lines() -> None:
    big = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > 200:
                    big[f"{path.relative_to(REPO_ROOT)}:{node.name}"] = size
    assert big == {}


def test_devhost_imports_nothing_of_the_app() -> None:
    offenders = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "imagemeta"]
        assert "images-input" not in path.read_text(), path
    assert offenders == []


# The layers, top to bottom, and what each may import of devhost (a module may always import
# its own package). Mirrors the real stack: the extension's HTTP API (webhooks) over
# DurableTask.Core (core) over its data types (model); DurableTask.AzureStorage (azurestorage)
# implements the core's work-item boundary and speaks only the model; the in-memory backend
# runs the AzureStorage provider's logic over in-memory primitives.
LAYERS: dict[str, set[str]] = {
    "devhost.durabletask.model": set(),
    "devhost.durabletask.azurestorage": {
        "devhost.durabletask.model", "devhost.azurite", "devhost.sdkshortcuts",
    },
    "devhost.durabletask.core": {
        "devhost.durabletask.model", "devhost.contracts", "devhost.queuepump",
    },
    "devhost.durabletask.memory": {
        "devhost.durabletask.model", "devhost.durabletask.core", "devhost.durabletask.azurestorage",
        "devhost.contracts",
    },
    "devhost.webhooks": {
        "devhost.durabletask.model", "devhost.durabletask.core", "devhost.durabletask.engine",
        "devhost.durabletask.azurestorage.names", "devhost.durabletask.azurestorage.tracking",
        "devhost.auth", "devhost.contracts",
    },
}  # fmt: skip


def devhost_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return [n for n in found if n.startswith("devhost.")]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_layers_import_downward_only() -> None:
    offenders = []
    for path in sources():
        mod = module_name(path)
        layer = next((lay for lay in LAYERS if mod == lay or mod.startswith(lay + ".")), None)
        if layer is None:
            continue
        allowed = LAYERS[layer] | {layer}
        for name in devhost_imports(path):
            target = name
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                # `from devhost.x import y`: y may be a module of an allowed package
                parent = target.rsplit(".", 1)[0]
                if any(parent == a for a in allowed) or any(
                    a.startswith(target + ".") for a in allowed
                ):
                    continue
                offenders.append(f"{mod} imports {name}")
    assert offenders == []


def test_the_layer_rule_catches_an_upward_import(tmp_path: Path) -> None:
    # the check above must be able to fail: a model module importing the core
    bad = tmp_path / "x.py"
    bad.write_text("from devhost.durabletask.core.executor import Replayer\n")
    assert devhost_imports(bad) == [
        "devhost.durabletask.core.executor",
        "devhost.durabletask.core.executor.Replayer",
    ]
    allowed = LAYERS["devhost.durabletask.model"]
    assert not any(n.startswith(a) for n in devhost_imports(bad) for a in allowed)


APP_WORDS = ("ImageMetadata", "SqlConnectionString", "images-input", "imagemeta")


def test_devhost_has_none_of_the_pipelines_vocabulary() -> None:
    # The app's outcome words and names reach devhost's tools only through the app view
    # plug-in (devhost/monitor/appview.py), never from devhost's own source.
    found = []
    static = list((DEVHOST / "monitor" / "static").glob("*"))
    for path in [*sources(), *static]:
        text = path.read_text()
        # The app's column names too, in the monitor's page (the app view names its subject
        # column; "FileName" is also a .NET route constraint devhost's Python ports by name).
        words = (*APP_WORDS, "FileName") if path in static else APP_WORDS
        found += [f"{path.name}: {w}" for w in words if w in text]
        found += [
            f"{path.name}: {w}"
            for w in ("stored", "duplicate", "rejected")
            if f'"{w}"' in text or f"'{w}'" in text
        ]
    assert found == []
