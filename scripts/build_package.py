"""The deployment package: an allow-list of the app's files, and what Core Tools would upload.

    python scripts/build_package.py [--output data/package.zip] [--stage DIR] [--funcignore]

The package is exactly the four function folders, `imagemeta/`, `host.json` and
`requirements.txt`, minus caches, dotfiles and backups inside them (`package_files`).
infra/deploy.sh stages these files into a temporary folder and runs `func azure functionapp
publish` there, so nothing else in the working tree (.env, .venv*, *.bak, .azure/,
local.settings*.json) can ever be uploaded.

`funcignore_files` reproduces Core Tools' own .funcignore matching (GitIgnoreParser.cs, a port
of codemix/gitignore-parser): a file is uploaded when a `!` pattern matches it or no other
pattern does; patterns match from the start of the relative path and end at a word boundary.
Negations always win, which is why .funcignore alone cannot keep out e.g. `host.json.bak`
(`!host.json` matches it); the staged publish can. Runs on Python 3.9+.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("BlobTriggerClient", "OrchestratorFunction", "ExtractMetadata", "StoreMetadata")
ALLOWED_DIRS = (*FUNCTIONS, "imagemeta")
ALLOWED_FILES = ("host.json", "requirements.txt")
ALLOWED_SUFFIXES = (".py", ".json", ".sql")  # inside the allowed folders
# Operator tools that live beside the app's library but never run in Azure (they need packages
# requirements.txt does not carry: rich, aiohttp, azure-identity). .funcignore's
# `!imagemeta/*.py` does not reach into subfolders either.
OPERATOR_ONLY = ("imagemeta/reprocess",)


def _wanted(rel_parts: tuple[str, ...]) -> bool:
    *dirs, name = rel_parts
    if any(d.startswith((".", "__pycache__")) for d in dirs):
        return False
    if name.startswith(".") or name.lower().startswith("local.settings"):
        return False
    return name.endswith(ALLOWED_SUFFIXES)


def package_files(app_dir: Path) -> list[str]:
    """Relative paths of the deployment package, sorted: the allow-list, nothing else."""
    out = [name for name in ALLOWED_FILES if (app_dir / name).is_file()]
    for top in ALLOWED_DIRS:
        base = app_dir / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            rel = path.relative_to(app_dir)
            if rel.as_posix().startswith(tuple(f"{d}/" for d in OPERATOR_ONLY)):
                continue
            if path.is_file() and not path.is_symlink() and _wanted(rel.parts[1:]):
                out.append(rel.as_posix())
    return sorted(out)


def build(app_dir: Path, output: Path) -> list[str]:
    files = package_files(app_dir)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(app_dir / rel, rel)
    return files


def stage(app_dir: Path, dest: Path) -> list[str]:
    """Copy the package's files (and .funcignore) into dest, the folder publish runs in."""
    files = package_files(app_dir)
    for rel in [*files, ".funcignore"]:
        src = app_dir / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return files


# --- Core Tools' .funcignore matching ------------------------------------------------------------
def _core_tools_regex(patterns: list[str]) -> re.Pattern[str]:
    def prepare(pattern: str) -> str:
        escaped = re.sub(r"[\-\[\]\/\{\}\(\)\+\?\.\\\^\$\|]", lambda m: "\\" + m.group(0), pattern)
        return escaped.replace("**", "(.+)").replace("*", "([^\\/]+)")

    if not patterns:
        return re.compile(r"$^")
    body = ")|(".join(prepare(p) for p in sorted(patterns))
    return re.compile(f"^(({body}))\\b", re.ASCII)


class CoreToolsIgnore:
    """Azure Functions Core Tools' GitIgnoreParser: Accepts = negative match or no positive."""

    def __init__(self, text: str) -> None:
        positive: list[str] = []
        negative: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            is_negative = line.startswith("!")
            line = line[1:] if is_negative else line
            line = line[1:] if line.startswith("/") else line
            (negative if is_negative else positive).append(line)
        self._positive = _core_tools_regex(positive)
        self._negative = _core_tools_regex(negative)
        self._refuses_all = "*" in positive
        self._kept_prefixes = [re.split(r"[*?\[]", p, maxsplit=1)[0] for p in negative]

    def accepts(self, rel: str) -> bool:
        return bool(self._negative.match(rel)) or not self._positive.match(rel)

    def refuses_everything_under(self, rel_dir: str) -> bool:
        """True only when no file below rel_dir can be accepted, so a walk need not enter it (a
        checkout's .venv and node_modules are most of its files). `*` matches every path whose
        first segment has a word character (it stops at a word boundary); a `!` pattern can keep
        something below only if its literal start and `rel_dir/` are prefixes of one another."""
        if not self._refuses_all or not re.search(r"\w", rel_dir.partition("/")[0], re.ASCII):
            return False
        below = rel_dir + "/"
        return not any(below.startswith(k) or k.startswith(below) for k in self._kept_prefixes)


# Core Tools' GetLocalFiles skips these before asking the parser.
CORE_TOOLS_SKIPPED_DIRS = {".git", ".vscode"}
CORE_TOOLS_SKIPPED_FILES = {
    ".funcignore", ".gitignore", "appsettings.json", "local.settings.json", "project.lock.json",
}  # fmt: skip


def funcignore_files(app_dir: Path) -> list[str]:
    """What `func azure functionapp publish` run in app_dir uploads (every file, then Accepts)."""
    ignore_file = app_dir / ".funcignore"
    parser = CoreToolsIgnore(ignore_file.read_text() if ignore_file.exists() else "")
    out = []
    for folder, dirs, files in os.walk(app_dir):
        base = Path(folder).relative_to(app_dir)
        dirs[:] = [
            d
            for d in dirs
            if d not in CORE_TOOLS_SKIPPED_DIRS
            and not parser.refuses_everything_under((base / d).as_posix())
        ]
        for name in files:
            rel = (base / name).as_posix()
            if name not in CORE_TOOLS_SKIPPED_FILES and parser.accepts(rel):
                out.append(rel)
    return sorted(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--output", type=Path, default=ROOT / "data" / "package.zip")
    parser.add_argument("--stage", type=Path, help="copy the package's files into this folder")
    parser.add_argument("--funcignore", action="store_true", help="list what .funcignore keeps")
    args = parser.parse_args()
    app_dir = args.app_dir.resolve()
    if args.funcignore:
        files = funcignore_files(app_dir)
        target = ".funcignore selection"
    elif args.stage:
        args.stage.mkdir(parents=True, exist_ok=True)
        files = stage(app_dir, args.stage)
        target = str(args.stage)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        files = build(app_dir, args.output)
        target = str(args.output)
    for rel in files:
        print(rel)
    print(f"{len(files)} files -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
