"""Time a first `make demo` as a new user sees it, and how much it installs.

    python -m scripts.fresh_install [--repo .] [--full] [--keep]

Clones the repository (its committed HEAD) into a temporary directory, runs `make demo` there
on a pseudo-terminal (so every program buffers its output as it would for a person at a
terminal) with its own .venv and node_modules, and timestamps each output line. Prints the
wall time, the longest silence between two lines (and the line that ended it), and the sizes of
.venv and node_modules. With --full it then runs `make install` (the development set `make test`
adds) and prints the .venv size again. Needs PyPI and npm, and Azurite's ports 10000-10002 free.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Line:
    at: float  # seconds since the command started
    text: str


@dataclass(frozen=True)
class Run:
    lines: list[Line]
    returncode: int
    wall: float


def run_on_pty(
    argv: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    echo: Callable[[Line], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Run:
    """Run argv with a pseudo-terminal as stdout/stderr; every line with its arrival time."""
    master, slave = pty.openpty()
    started = clock()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    lines: list[Line] = []
    pending = b""

    def emit(raw: bytes) -> None:
        text = raw.decode(errors="replace").rstrip("\r")
        line = Line(clock() - started, text)
        lines.append(line)
        if echo:
            echo(line)

    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not chunk:
            break
        pending += chunk.replace(b"\r\n", b"\n")
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            emit(raw)
    if pending:
        emit(pending)
    os.close(master)
    returncode = proc.wait()
    return Run(lines, returncode, clock() - started)


def longest_gap(lines: list[Line]) -> tuple[float, Line | None]:
    """The longest silence (seconds) from the start to the first line and between lines,
    and the line that ended it."""
    best, where, previous = 0.0, None, 0.0
    for line in lines:
        if line.at - previous > best:
            best, where = line.at - previous, line
        previous = line.at
    return best, where


def size_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def _echo(line: Line) -> None:
    print(f"{line.at:7.1f}s | {line.text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fresh_install", description=__doc__)
    parser.add_argument("--repo", default=".", help="repository to clone (default: here)")
    parser.add_argument("--full", action="store_true", help="then `make install` (dev set)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fresh-install-"))
    clone = workdir / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", str(Path(args.repo).resolve()), str(clone)],
                       check=True)  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        print(f"fresh_install: make demo in {clone}", flush=True)
        demo = run_on_pty(["make", "demo"], clone, env, echo=_echo)
        gap, where = longest_gap(demo.lines)
        runtime_venv = size_mb(clone / ".venv")
        modules = size_mb(clone / "node_modules")
        report = [
            f"make demo (fresh clone): exit {demo.returncode}, wall {demo.wall:.0f} s, "
            f"{len(demo.lines)} lines",
            f"longest silence: {gap:.1f} s, ended by: {where.text if where else '-'}",
            f".venv after make demo (runtime set): {runtime_venv:.0f} MB; "
            f"node_modules: {modules:.0f} MB",
        ]
        if args.full and demo.returncode == 0:
            full = run_on_pty(["make", "install"], clone, env, echo=_echo)
            fgap, fwhere = longest_gap(full.lines)
            report += [
                f"make install (adds the dev set): exit {full.returncode}, wall "
                f"{full.wall:.0f} s, longest silence {fgap:.1f} s "
                f"({fwhere.text if fwhere else '-'})",
                f".venv after make install (full set): {size_mb(clone / '.venv'):.0f} MB",
            ]
        print("\n".join(["", *report]))
        return 0 if demo.returncode == 0 else 1
    finally:
        if args.keep:
            print(f"fresh_install: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
