"""Build the deployment zip the way `func azure functionapp publish` selects files.

Core Tools zips the app root minus the patterns in .funcignore (gitignore syntax). This mirrors
that selection so CI can check what would be deployed without Core Tools.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_patterns(app_dir: Path) -> list[str]:
    path = app_dir / ".funcignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    """gitignore-style match: trailing '/' = directories only; no '/' = match at any depth."""
    result = False
    name = rel.rsplit("/", 1)[-1]
    for raw in patterns:
        negate = raw.startswith("!")
        pat = raw[1:] if negate else raw
        dir_only = pat.endswith("/")
        pat = pat.rstrip("/")
        if dir_only and not is_dir:
            continue
        anchored = "/" in pat
        pat = pat.lstrip("/")
        hit = fnmatch.fnmatch(rel, pat) if anchored else fnmatch.fnmatch(name, pat)
        if hit:
            result = not negate
    return result


def package_files(app_dir: Path) -> list[str]:
    patterns = load_patterns(app_dir)
    out: list[str] = []

    def walk(directory: Path) -> None:
        for entry in sorted(directory.iterdir()):
            rel = entry.relative_to(app_dir).as_posix()
            if ignored(rel, entry.is_dir(), patterns):
                continue
            if entry.is_dir():
                walk(entry)
            else:
                out.append(rel)

    walk(app_dir)
    return out


def build(app_dir: Path, output: Path) -> list[str]:
    files = package_files(app_dir)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(app_dir / rel, rel)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--output", type=Path, default=ROOT / "data" / "package.zip")
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    files = build(args.app_dir.resolve(), args.output)
    for rel in files:
        print(rel)
    print(f"{len(files)} files -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
