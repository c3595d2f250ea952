"""Start-up validation: a broken app fails fast with an error naming the function."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.process import REPO_ROOT

STORAGE = "UseDevelopmentStorage=true"


def make_app(
    root: Path, functions: dict[str, tuple[dict, str]], settings: dict | None = None
) -> Path:
    bundle = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensionBundle": bundle}))
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", **(settings or {})}
    (root / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    for name, (conf, code) in functions.items():
        (root / name).mkdir()
        (root / name / "function.json").write_text(json.dumps(conf))
        (root / name / "__init__.py").write_text(code)
    return root


def start(app: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(app), "--port", "0"],
        cwd=app, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


BLOB = {"name": "blob", "type": "blobTrigger", "direction": "in", "path": "c/{name}",
        "connection": "MyStorage"}  # fmt: skip
WRONG_TYPE = "import azure.functions as func\n\ndef main(blob: func.HttpRequest): pass"
ACTIVITY = {"name": "x", "type": "activityTrigger", "direction": "in"}


@pytest.mark.parametrize(
    ("functions", "settings", "message"),
    [
        ({"Bad": ({"bindings": [ACTIVITY, {"name": "q", "type": "serviceBusTrigger2",
                                           "direction": "in"}]}, "def main(x, q): pass")},
         {}, "function 'Bad': unknown binding type 'serviceBusTrigger2'"),
        # A misspelt trigger is named, not reported as "no trigger": the host's
        # FunctionDescriptorProvider.VerifyResolvedBindings ("The binding type(s) '...' are not
        # registered") runs before the trigger checks, and before the module is imported.
        ({"Typo": ({"bindings": [{**BLOB, "type": "blobTriger"}]}, "import not_installed\n")},
         {}, "function 'Typo': unknown binding type 'blobTriger' (misspelt?"),
        ({"NotAList": ({"bindings": {"name": "x"}}, "def main(x): pass")},
         {}, "function 'NotAList': function.json must be an object whose \"bindings\" is a list"),
        ({"NoConn": ({"bindings": [BLOB]}, "def main(blob): pass")},
         {}, "function 'NoConn': connection setting 'MyStorage' is not set"),
        ({"WrongType": ({"bindings": [{**BLOB, "connection": "AzureWebJobsStorage"}]},
                        WRONG_TYPE)},
         {"AzureWebJobsStorage": STORAGE}, "function 'WrongType': type of parameter 'blob'"),
        ({"Orphan": ({"bindings": [ACTIVITY]}, "def main(x, extra): pass")},
         {}, "function 'Orphan': parameter 'extra' has no binding"),
        ({"NoEntry": ({"bindings": [ACTIVITY], "entryPoint": "run"}, "def main(x): pass")},
         {}, "function 'NoEntry': entry point 'run' not found"),
        ({"NoPkg": ({"bindings": [ACTIVITY]}, "import not_installed_pkg\ndef main(x): pass")},
         {}, "function 'NoPkg': importing __app__.NoPkg failed: no module named "
             "'not_installed_pkg'"),
        ({"Boom": ({"bindings": [ACTIVITY]}, "raise RuntimeError('bad config')\n")},
         {}, "function 'Boom': importing __app__.Boom failed: RuntimeError: bad config"),
        ({"QIn": ({"bindings": [ACTIVITY, {"name": "q", "type": "queue", "direction": "in",
                                           "queueName": "x"}]}, "def main(x, q): pass")},
         {}, "function 'QIn': queue binding 'q' must be an output"),
        ({"BlobIO": ({"bindings": [ACTIVITY, {"name": "b", "type": "blob",
                                              "direction": "inout", "path": "c/x"}]},
                     "def main(x, b): pass")},
         {}, "function 'BlobIO': blob binding 'b' with direction 'inout' is not supported"),
    ],
)  # fmt: skip
def test_invalid_apps_fail_at_start_naming_the_function(
    tmp_path: Path, functions: dict, settings: dict, message: str
) -> None:
    result = start(make_app(tmp_path, functions, {"AzureWebJobsStorage": STORAGE, **settings}
                            if "NoConn" not in functions else {}))  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_import_failure_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        {"NoPkg": ({"bindings": [ACTIVITY]}, "import not_installed_pkg\ndef main(x): pass")},
        {"AzureWebJobsStorage": STORAGE},
    )
    # as a real v1 app pins it (otherwise the SDK itself warns about the v1 model on import)
    (app / "requirements.txt").write_text("azure-functions\nazure-functions-durable<2\n")
    result = start(app)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
