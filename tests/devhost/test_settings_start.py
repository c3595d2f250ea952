"""`devhost start` refuses a setting the real host refuses in one line with exit 2, before it
loads anything else (issue 19: bad configuration, one line, exit 2, within seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_start_exits_2_with_one_line_on_a_refused_setting(tmp_path: Path) -> None:
    # AzureStorageOrchestrationService's constructor: "The control queue batch size must not
    # exceed 32."
    storage = {"storageProvider": {"controlQueueBatchSize": 64}}
    host_json = {"version": "2.0", "extensions": {"durableTask": storage}}
    (tmp_path / "host.json").write_text(json.dumps(host_json))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AzureFunctionsJobHost")}
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "devhost: The control queue batch size must not exceed 32."
