"""scripts/fresh_install.py measures how often a first `make demo` prints: its pieces, checked
on small commands (the full run needs PyPI and npm and takes minutes: docs/performance.md)."""

from __future__ import annotations

import subprocess
from itertools import count
from pathlib import Path

import pytest

from devhost.process import REPO_ROOT
from scripts.demo import heartbeat
from scripts.fresh_install import Line, longest_gap, run_on_pty
from tests.waiting import wait_until


def test_lines_arrive_through_a_terminal_in_order_with_their_times() -> None:
    ticks = count()
    run = run_on_pty(
        ["sh", "-c", "echo one; printf 'two\\r\\n'; printf 'no newline'; exit 3"],
        Path.cwd(), clock=lambda: float(next(ticks)),
    )  # fmt: skip
    assert [line.text for line in run.lines] == ["one", "two", "no newline"]
    assert [line.at for line in run.lines] == sorted(line.at for line in run.lines)
    assert run.returncode == 3


def test_python_output_on_the_pty_is_line_buffered_as_for_a_person() -> None:
    # Through a pipe, print() would hold lines back until exit; on a terminal it does not.
    probe = "import os, sys; print(sys.stdout.isatty()); print(os.isatty(2))"
    run = run_on_pty(["python3", "-c", probe], Path.cwd())
    assert [line.text for line in run.lines] == ["True", "True"]


def test_longest_gap_counts_from_the_start_and_names_the_line_that_ended_it() -> None:
    lines = [Line(0.5, "a"), Line(1.0, "b"), Line(7.5, "c"), Line(8.0, "d")]
    assert longest_gap(lines) == (6.5, lines[2])
    assert longest_gap([Line(9.0, "late")]) == (9.0, Line(9.0, "late"))
    assert longest_gap([]) == (0.0, None)


def test_bootstrap_relays_quiet_installers_with_a_still_working_line() -> None:
    """The relay in scripts/bootstrap.sh: lines as they come, one after 3 s of silence."""
    script = (REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    relay = script[script.index("step_started=") : script.index("# --- apt")]
    body = relay + (
        'begin "probe"\n'
        "{ echo 'Collecting x'; echo 'noise'; sleep 5; echo 'ERROR: y'; } "
        "| relay pip '^(Collecting|ERROR)'\n"
        "end\n"
    )
    out = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + body],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    texts = [line.split(None, 2)[-1] for line in out[1:-1]]
    assert out[0] == "bootstrap: probe"
    assert texts[0] == "Collecting x" and texts[-1] == "ERROR: y"
    assert "... still working" in texts and "noise" not in texts
    assert out[-1].startswith("bootstrap: probe: done in ")


def test_the_demo_says_it_is_still_working_during_a_quiet_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[str] = []

    def said() -> bool:
        seen.append(capsys.readouterr().out)
        return "demo: still starting devhost (" in "".join(seen)

    with heartbeat("starting devhost", every=0.05):
        wait_until(said, timeout=30, message="no heartbeat line")
    after = capsys.readouterr().out
    with heartbeat("finishing at once", every=60):
        pass
    assert "finishing" not in after + capsys.readouterr().out  # a quick step stays quiet
