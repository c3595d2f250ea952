"""infra/deploy.sh stays within bash 3.2 (macOS's /bin/bash) and is shellcheck-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.infra

SCRIPT = ROOT / "infra" / "deploy.sh"
# Constructs bash 3.2 rejects or treats differently (all arrived in bash 4.x / 5.x).
BASH4_ONLY = {
    "associative array (declare -A)": r"\b(declare|local|typeset)\s+-[a-zA-Z]*A",
    "nameref (declare -n)": r"\b(declare|local|typeset)\s+-[a-zA-Z]*n\b",
    "declare -g": r"\b(declare|typeset)\s+-[a-zA-Z]*g",
    "case conversion ${var,,} / ${var^^}": r"\$\{[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?(,,?|\^\^?)",
    "parameter transformation ${var@Q}": r"\$\{[A-Za-z_][A-Za-z0-9_]*@[QEPAaKk]\}",
    "mapfile / readarray": r"\b(mapfile|readarray)\b",
    "coproc": r"\bcoproc\b",
    "&>> redirection": r"&>>",
    "|& pipe": r"\|&",
    "case fall-through ;& / ;;&": r";;?&\s*$",
    "wait -n": r"\bwait\s+-n\b",
    "[[ -v var ]]": r"\[\[\s+-v\s",
    "globstar": r"shopt\s+-s\s+globstar",
    "EPOCHSECONDS / EPOCHREALTIME": r"\$\{?EPOCH(SECONDS|REALTIME)",
    "{fd}> redirection": r"(?<!\$)\{[A-Za-z_][A-Za-z0-9_]*\}[<>]",
    "printf %(...)T": r"printf\s+['\"]?%\(",
}


def bash32_problems(text: str) -> list[str]:
    code = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    )  # comments may mention anything
    found = [name for name, pattern in BASH4_ONLY.items() if re.search(pattern, code, re.M)]
    # An array that can be empty, expanded as "${a[@]}" under set -u: bash < 4.4 aborts with
    # "unbound variable". Require ${a[@]+"${a[@]}"} for every array ever declared empty.
    for name in set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)=\(\s*\)", code)):
        for match in re.finditer(r"(.)\"\$\{" + name + r"\[@\]\}\"", code):
            if match.group(1) != "+":
                found.append(f'empty-able array "${{{name}[@]}}" under set -u')
    return found


def test_deploy_script_avoids_what_bash_32_rejects() -> None:
    assert bash32_problems(SCRIPT.read_text()) == []


def test_the_checker_catches_each_construct() -> None:
    """The check can fail: each construct (and the issue's original array) is flagged."""
    samples = {
        "declare -A seen=()": "associative array (declare -A)",
        'echo "${name,,}"': "case conversion ${var,,} / ${var^^}",
        "mapfile -t lines < f": "mapfile / readarray",
        "local -n ref=x": "nameref (declare -n)",
        "cmd &>> log": "&>> redirection",
    }
    for sample, name in samples.items():
        assert name in bash32_problems(sample), sample
    original = 'entra_args=()\naz deployment sub what-if "${entra_args[@]}"\n'
    assert bash32_problems(original) == ['empty-able array "${entra_args[@]}" under set -u']
    guarded = 'entra_args=()\naz deployment sub what-if ${entra_args[@]+"${entra_args[@]}"}\n'
    assert bash32_problems(guarded) == []


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (scripts/bootstrap.sh installs it)")
    proc = subprocess.run(
        [shellcheck, str(SCRIPT), str(ROOT / "scripts" / "bootstrap.sh")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout


def test_bash_parses_it_and_help_works(tmp_path: Path) -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "Usage:" in proc.stdout
