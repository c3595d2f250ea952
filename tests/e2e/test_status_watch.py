"""`devhost status --watch` against the real app (issue 23 item 4): started after one batch has
finished, it waits for the next upload's instances and ends on them, not on the old batch."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Callable

from devhost.process import REPO_ROOT
from tests.harness import Pipeline, image_bytes


def test_watch_follows_the_upload_after_it_started(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory()
    earlier = {f"earlier/{i}.png": image_bytes("PNG", (8 + i, 8)) for i in range(3)}
    p.wait_terminal(set(p.upload_many(earlier).items()))
    watch = subprocess.Popen(
        [sys.executable, "-m", "devhost", "status", "--app-dir", str(REPO_ROOT), "--watch",
         "--interval", "0.5"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AzureWebJobsStorage": p.azurite.connection_string},
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        ready, _, _ = select.select([watch.stdout], [], [], 60)  # a bound that catches hangs
        assert ready, "status --watch printed nothing"
        first = watch.stdout.readline()  # after its first poll: the earlier batch is history
        assert first.startswith("Nothing running: waiting for new instances"), first
        later = {f"later/{i}.png": image_bytes("PNG", (20 + i, 9)) for i in range(5)}
        p.wait_terminal(set(p.upload_many(later).items()))
        out, err = watch.communicate(timeout=120)  # it ends by itself once the batch settles
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    progress = out[: out.index("Task hub")]  # the progress line, before the final tables
    assert re.search(r"\b5/5\b", progress), out
    assert "3/3" not in progress and "8/8" not in progress, out
