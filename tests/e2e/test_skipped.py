"""Skipped blobs are visible (issue 23 item 6): a non-image upload, which BlobTriggerClient
passes over, is counted by reason in `devhost status` (it appeared only in the host log)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

from devhost.blobtrigger.skips import skip_counts
from devhost.config import load_config
from devhost.process import REPO_ROOT
from imagemeta.devview import SKIPPED_EXTENSION
from tests.harness import Pipeline, image_bytes
from tests.waiting import wait_until


def test_a_non_image_upload_is_counted_in_status(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory()
    storage = p.azurite.connection_string
    host_id = load_config(REPO_ROOT, storage).host_id  # the id devhost derives for this app
    etag = p.upload("photo.jpg", image_bytes("JPEG", (64, 48)))
    p.upload("notes.txt", b"not an image")
    p.upload("more/notes.md", b"# nor this")
    p.wait_terminal({("photo.jpg", etag)})
    wait_until(
        lambda: asyncio.run(skip_counts(storage, host_id)) == {SKIPPED_EXTENSION: 2},
        timeout=60,
        interval=0.5,
        message=lambda: f"{asyncio.run(skip_counts(storage, host_id))}\n{p.devhost.log_tail()}",
    )
    out = subprocess.run(
        [sys.executable, "-m", "devhost", "status", "--app-dir", str(REPO_ROOT)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "AzureWebJobsStorage": storage, "COLUMNS": "80"},
    ).stdout  # fmt: skip
    assert "Skipped by the blob trigger: 2 blob version(s)" in out, out
    line = next(x for x in out.splitlines() if SKIPPED_EXTENSION in x)
    assert line.rstrip().endswith("2"), out
