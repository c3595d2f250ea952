"""What gets deployed: the allow-list and nothing else (issue 12 item 8, issue 15 item 4)."""

from __future__ import annotations

import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from scripts.build_package import (
    ROOT,
    CoreToolsIgnore,
    build,
    funcignore_files,
    package_files,
    stage,
)

pytestmark = pytest.mark.infra

FUNCTIONS = ("BlobTriggerClient", "OrchestratorFunction", "ExtractMetadata", "StoreMetadata")
NEVER = {
    ".env": "SqlConnectionString=secret\n",
    ".env.production": "x\n",
    ".venv-deploy/lib/python3.13/site-packages/pyodbc.py": "x\n",
    ".venv/bin/python": "x\n",
    ".azure/config": "[defaults]\n",
    ".azure/imagemeta/.env": "AZURE_SUBSCRIPTION_ID=x\n",
    "local.settings.json": "{}\n",
    "local.settings.prod.json": "{}\n",
    "backup.bak": "x\n",
    "imagemeta/db.py.bak": "x\n",
    "host.json.bak": "{}\n",
    "imagemeta/.env": "x\n",
    "imagemeta/__pycache__/db.cpython-311.pyc": "x\n",
    "StoreMetadata/local.settings.json": "{}\n",
    "devhost/__init__.py": "x\n",
    "tests/x.py": "x\n",
    "infra/deploy.sh": "x\n",
}


def app_copy(tmp_path: Path) -> Path:
    """The repository's app files plus every file that must never ship."""
    dest = tmp_path / "repo"
    for rel in [*package_files(ROOT), ".funcignore"]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes((ROOT / rel).read_bytes())
    for rel, text in NEVER.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


def test_repo_package_holds_the_app_only(tmp_path: Path) -> None:
    files = build(ROOT, tmp_path / "package.zip")
    for fn in FUNCTIONS:
        assert f"{fn}/function.json" in files
        assert f"{fn}/__init__.py" in files
    assert "host.json" in files and "requirements.txt" in files
    assert any(f.startswith("imagemeta/") and f.endswith(".py") for f in files)
    assert any(f.startswith("imagemeta/schema/tsql/") for f in files)
    tops = {f.split("/", 1)[0] for f in files}
    assert tops == {*FUNCTIONS, "imagemeta", "host.json", "requirements.txt"}
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    with zipfile.ZipFile(tmp_path / "package.zip") as zf:
        assert sorted(zf.namelist()) == sorted(files)


def test_secrets_and_environments_never_ship(tmp_path: Path) -> None:
    """.env, .venv*, *.bak, .azure/, local.settings*.json next to the app: none is packaged."""
    repo = app_copy(tmp_path)
    files = package_files(repo)
    assert files == package_files(ROOT)
    assert not set(files) & set(NEVER)
    staged = stage(repo, tmp_path / "staged")
    on_disk = sorted(
        p.relative_to(tmp_path / "staged").as_posix()
        for p in (tmp_path / "staged").rglob("*")
        if p.is_file()
    )
    assert on_disk == sorted([*staged, ".funcignore"])


def test_funcignore_matches_the_allow_list_as_core_tools_reads_it(tmp_path: Path) -> None:
    """`func publish` from the repo root (by hand) uploads the same files as the package."""
    assert funcignore_files(ROOT) == package_files(ROOT)
    kept = funcignore_files(app_copy(tmp_path))
    leaks = set(kept) - set(package_files(ROOT))
    # Core Tools lets any `!` pattern win and matches up to a word boundary, so `!host.json`
    # also keeps host.json.bak: the reason deploy.sh publishes from a staged copy instead.
    assert leaks == {"host.json.bak", "imagemeta/db.py.bak"}


def test_core_tools_matching_semantics() -> None:
    """The port of Core Tools' GitIgnoreParser: prefix match, word boundary, negation wins."""
    parser = CoreToolsIgnore("*\n!imagemeta/*.py\n!/host.json\n")
    assert parser.accepts("imagemeta/db.py")
    assert not parser.accepts("imagemeta/__pycache__/db.cpython-311.pyc")
    assert not parser.accepts(".env")
    assert parser.accepts("host.json")
    assert parser.accepts("host.json.bak")  # word boundary after "json"
    old = CoreToolsIgnore("__pycache__/\n*.pyc\n.venv/\n")  # the former deny-list
    assert not old.accepts(".venv/bin/python")
    assert old.accepts("imagemeta/__pycache__/db.cpython-311.pyc")  # only matched at the top
    assert old.accepts(".venv-deploy/bin/python")  # issue 15 item 4


def test_the_walk_skips_only_folders_nothing_in_can_be_kept() -> None:
    """funcignore_files does not enter .venv or node_modules (most of a checkout's files, 1.7 s
    of the fast suite), and only because no `!` line could keep a file below them."""
    parser = CoreToolsIgnore("*\n!imagemeta/*.py\n!/host.json\n!docs/**/x.md\n")
    assert parser.refuses_everything_under(".venv")
    assert parser.refuses_everything_under("node_modules/azurite")
    assert not parser.refuses_everything_under("imagemeta")
    assert not parser.refuses_everything_under("host.json.d")  # `!host.json` keeps host.json.d/x
    assert not parser.refuses_everything_under("docs")
    assert not parser.refuses_everything_under("-")  # `*` matches no path starting "-/"
    assert not CoreToolsIgnore("*.pyc\n").refuses_everything_under(".venv")
    assert not CoreToolsIgnore("*\n!**/*.py\n").refuses_everything_under(".venv")


def test_requirements_comment_states_the_durable_release_line() -> None:
    """Issue 15 item 10: 1.7.0 is the latest azure-functions-durable; the old comment described
    a 2.x that does not exist (a text check: the PyPI release list is not reachable offline)."""
    text = (ROOT / "requirements.txt").read_text()
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert "azure-functions-durable==1.7.0" in text
    assert any("1.7.0 is the latest" in c and "no 2.x" in c for c in comments)
    assert not any("2.x needs" in c for c in comments)
    assert version("azure-functions-durable") == "1.7.0"  # what the tests run against
