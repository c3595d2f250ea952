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
