"""Offline infrastructure checks: every .bicep parses (pycep) and checkov passes.

checkov lives in its own venv (.venv-checkov, ~265 MB) created on first use from
infra/requirements-checkov.txt. checkov exits 0 on Bicep parse errors, so this reads
`summary.parsing_errors` from its JSON report and fails on them as well as on failed checks.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from pycep import BicepParser

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
VENV = ROOT / ".venv-checkov"
REQUIREMENTS = INFRA / "requirements-checkov.txt"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse_all() -> dict[Path, dict]:
    """Parse every template; pycep raises on a syntax error."""
    return {f: BicepParser().parse(file_path=f) for f in bicep_files()}


def ensure_checkov() -> Path:
    exe = VENV / "bin" / "checkov"
    stamp = VENV / ".requirements.sha"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if exe.exists() and stamp.exists() and stamp.read_text() == want:
        return exe
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(want)
    return exe


def run_checkov() -> dict:
    exe = ensure_checkov()
    proc = subprocess.run(
        [str(exe), "-d", str(INFRA), "--config-file", str(INFRA / ".checkov.yaml"),
         "-o", "json"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"checkov produced no JSON report:\n{proc.stderr[-2000:]}") from e
    reports = report if isinstance(report, list) else [report]
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    if not bicep:
        raise RuntimeError("checkov reported nothing for bicep: were the templates found?")
    return bicep[0]


def main() -> int:
    for path in parse_all():
        print(f"pycep: parsed {path.relative_to(ROOT)}")
    report = run_checkov()
    summary = report["summary"]
    print(f"checkov {summary.get('checkov_version')}: {summary}")
    for c in report["results"].get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment", "")
        print(f"  suppressed {c['check_id']} on {c['resource']}: {reason}")
    failed = report["results"].get("failed_checks", [])
    for c in failed:
        print(f"  FAILED {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
    if summary.get("parsing_errors", 0):
        print(f"checkov could not parse {summary['parsing_errors']} file(s)")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
