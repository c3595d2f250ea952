"""What `func azure functionapp publish` would deploy: the app and nothing else."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from scripts.build_package import ROOT, build, ignored, load_patterns

pytestmark = pytest.mark.infra

FUNCTIONS = ("BlobTriggerClient", "OrchestratorFunction", "ExtractMetadata", "StoreMetadata")


def test_repo_package_holds_the_app_only(tmp_path: Path) -> None:
    files = build(ROOT, tmp_path / "package.zip")
    tops = {f.split("/", 1)[0] for f in files}
    for fn in FUNCTIONS:
        assert f"{fn}/function.json" in files
        assert f"{fn}/__init__.py" in files
    assert "host.json" in files and "requirements.txt" in files
    assert any(f.startswith("imagemeta/") and f.endswith(".py") for f in files)
    assert any(f.startswith("imagemeta/schema/tsql/") for f in files)
    forbidden = {
        "devhost", "tests", "infra", "node_modules", "data", ".venv", ".venv-checkov", "bench",
        "scripts", "samples", ".git", ".ci", "local.settings.json", "package.json",
    }  # fmt: skip
    assert not tops & forbidden
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    with zipfile.ZipFile(tmp_path / "package.zip") as zf:
        assert sorted(zf.namelist()) == sorted(files)


def test_funcignore_semantics() -> None:
    patterns = load_patterns(ROOT)
    assert ignored("devhost", True, patterns)
    assert ignored("imagemeta/__pycache__", True, patterns)
    assert ignored("local.settings.json", False, patterns)
    assert not ignored("imagemeta", True, patterns)
    assert not ignored("host.json", False, patterns)
    assert ignored("x/y.pyc", False, ["*.pyc"])
    assert not ignored("keep.txt", False, ["*.txt", "!keep.txt"])
