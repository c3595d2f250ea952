"""Reprocess against devhost + Azurite + SQLite, as an operator runs it (issue 22)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devhost.azurite import ACCOUNT, ACCOUNT_KEY, free_port
from imagemeta.blobref import INPUT_CONTAINER, BlobRef, quoted_etag
from tests.harness import image_bytes
from tests.reprocess.conftest import REJECTED, App, assert_exact_rows
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def instance_id(app: App, name: str) -> str:
    return BlobRef(INPUT_CONTAINER, name, "", 0, quoted_etag(app.etags[name])).instance_id


def purge(base_url: str, iid: str) -> None:
    req = urllib.request.Request(
        f"{base_url}/runtime/webhooks/durabletask/instances/{iid}", method="DELETE",
        headers={"x-functions-key": KEY},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _inputs(app: App) -> dict[str, str]:
    """Instance id -> the input exactly as the HTTP API returns it (text, not decoded)."""
    return {iid: json.dumps(i.get("input")) for iid, i in app.instances().items()}


def test_dry_run_changes_nothing(app: App, tmp_path: Path) -> None:
    app.empty_database(tmp_path)
    before = app.instances()

    result = app.reprocess("--dry-run")

    assert result.code == 0, result.stderr
    s = result.summary
    assert (s["wouldStart"], s["started"], s["rejectedEarlier"]) == (len(app.images), 0, 2)
    assert "dry run: nothing started" in result.stdout
    assert "a/000.png" in result.stdout and f"and {len(app.images) - 10} more" in result.stdout
    assert app.row_count() == 0
    assert app.instances() == before  # not one instance started, restarted or touched


def test_empty_database_reprocessed_to_exact_rows_then_nothing_new(
    app: App, tmp_path: Path
) -> None:
    app.empty_database(tmp_path)
    trigger_inputs = _inputs(app)

    first = app.reprocess()

    assert first.code == 0, first.stdout + first.stderr
    s = first.summary
    assert s["comparedWith"] == "ImageMetadata"
    assert (s["started"], s["stored"], s["failed"], s["errors"]) == (300, 300, 0, 0)
    assert (s["selected"], s["rejectedEarlier"], s["unfinished"]) == (302, 2, 0)
    assert_exact_rows(app)
    # The same instance ids and byte-identical inputs as the blob trigger gave them.
    assert _inputs(app) == trigger_inputs

    again = app.reprocess()

    assert again.code == 0, again.stderr
    s = again.summary
    assert (s["started"], s["joined"], s["alreadyStored"], s["rejectedEarlier"]) == (0, 0, 300, 2)
    assert_exact_rows(app)
    assert set(REJECTED) <= set(app.etags)


def test_sigkill_mid_run_then_rerun_is_exact(app: App, tmp_path: Path) -> None:
    lost = sorted(n for n in app.images if n.startswith("b/0"))[:50]  # 50 of b/'s 100 rows
    app.delete_rows(lost)
    proc = app.popen("--prefix", "b/", "--max-in-flight", "2", log=tmp_path / "killed.log")
    try:
        app.wait_rows(len(app.images) - len(lost) + 10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup, no summary: a crashed operator shell
        proc.wait()
    back = app.row_count() - (len(app.images) - len(lost))
    assert back < len(lost), "the run finished before the kill"

    rerun = app.reprocess("--prefix", "b/")

    assert rerun.code == 0, rerun.stdout + rerun.stderr
    s = rerun.summary
    assert s["alreadyStored"] >= 50 + back
    # Every image is accounted for once: stored before, still running (watched), or started.
    assert s["alreadyStored"] + s["joined"] + s["started"] == 100
    assert s["started"] <= len(lost) - back
    assert_exact_rows(app)


def test_prefix_and_modified_since_select_exactly(app: App) -> None:
    before = app.instances()

    result = app.reprocess("--all", "--prefix", "c/01")

    assert result.code == 0, result.stderr
    s = result.summary
    assert (s["selected"], s["started"], s["duplicate"], s["stored"]) == (10, 10, 10, 0)
    after = app.instances()
    restarted = {i for i in after if after[i]["createdTime"] != before[i]["createdTime"]}
    assert restarted == {instance_id(app, n) for n in app.images if n.startswith("c/01")}
    assert_exact_rows(app)  # --all: existing rows stay single

    cutoff = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) > cutoff, timeout=5)
    late = {f"late/{i}.gif": image_bytes("GIF", (3 + i, 3), "P") for i in range(3)}
    etags = app.pipeline.upload_many(late)
    app.etags |= etags
    app.pipeline.wait_terminal(set(etags.items()))
    since = cutoff.isoformat().replace("+00:00", "Z")

    newer = app.reprocess("--all", "--modified-since", since, "--dry-run")
    older = app.reprocess("--all", "--until", since, "--prefix", "c/", "--dry-run")

    assert newer.code == older.code == 0, newer.stderr + older.stderr
    assert (newer.summary["selected"], newer.summary["wouldStart"]) == (3, 3)
    assert all(n in newer.stdout for n in late)
    assert (older.summary["selected"], older.summary["wouldStart"]) == (100, 100)
    restarted_late = app.reprocess("--all", "--modified-since", since)
    assert restarted_late.summary["started"] == 3
    assert_exact_rows(app)


def test_new_version_while_reprocessing_gives_one_row_per_version(app: App) -> None:
    """The trigger and reprocess race for the same new blob version: one instance, one row."""
    etag = app.pipeline.upload("a/000.png", image_bytes("PNG", (77, 7)))
    result = app.reprocess("--prefix", "a/000", "--no-sql")  # right away, racing the trigger
    assert result.code == 0, result.stderr
    app.pipeline.wait_terminal({("a/000.png", etag)})
    rows = [(n, e.strip('"')) for n, e in app.rows() if n == "a/000.png"]
    assert sorted(rows) == sorted([("a/000.png", app.etags["a/000.png"].strip('"')),
                                   ("a/000.png", etag.strip('"'))])  # fmt: skip
    assert (
        result.summary["started"] + result.summary["joined"] + result.summary["alreadyStored"] == 1
    )
    app.old_rows.add(("a/000.png", app.etags["a/000.png"]))
    app.etags["a/000.png"] = etag
    assert_exact_rows(app)


def test_failed_heals_a_locked_database_failure(app: App) -> None:
    names = {f"locked/{i}.png": image_bytes("PNG", (20 + i, 9)) for i in range(3)}
    lock = sqlite3.connect(app.sqlite_path(), isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")  # StoreMetadata fails after its retries
    try:
        etags = app.pipeline.upload_many(names)
        app.etags |= etags
        ids = {instance_id(app, n) for n in names}
        # Joins the trigger's instances (or starts them first) and watches them fail.
        watched = app.reprocess("--prefix", "locked/", "--no-sql")
        assert all(app.instances()[i]["runtimeStatus"] == "Failed" for i in ids)
        dry = app.reprocess("--failed", "--dry-run")
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert watched.code == 1, watched.stdout + watched.stderr
    assert watched.summary["failed"] == 3
    assert "first failed:" in watched.stdout and "database is locked" in watched.stdout
    assert (dry.code, dry.summary["wouldStart"]) == (0, 3)

    healed = app.reprocess("--failed")

    assert healed.code == 0, healed.stdout + healed.stderr
    assert (healed.summary["started"], healed.summary["stored"]) == (3, 3)
    assert {app.instances()[i]["runtimeStatus"] for i in ids} == {"Completed"}
    assert_exact_rows(app)
    assert app.reprocess("--failed").summary["listed"] == 0


KEY = "deployed-" + "k3y" * 8


def test_deployed_mode_against_a_keyed_host(app: App, tmp_path: Path) -> None:
    """devhost with a key plays the deployed app: only its HTTP API and the storage account."""
    host = app.pipeline.devhost
    host.stop()
    host.env["DEVHOST_KEY"] = KEY  # not on argv
    host.start()
    victims = sorted(n for n in app.images if n.startswith("c/00"))
    for name in victims:  # history purged and rows lost: only the blobs are left
        purge(host.base_url, instance_id(app, name))
    app.delete_rows(victims)
    account = f"http://127.0.0.1:{app.pipeline.azurite.blob_port}/{ACCOUNT}"
    args = ("--url", host.base_url, "--account-url", account, "--prefix", "c/0")
    storage = {"AZURE_STORAGE_KEY": ACCOUNT_KEY}

    no_key = app.reprocess(*args, env=storage)
    assert no_key.code == 2 and "refused the key (401)" in no_key.stderr
    assert len(no_key.stderr.strip().splitlines()) == 1 and not no_key.stdout

    key_file = tmp_path / "durabletask.key"
    key_file.write_text(KEY + "\n")
    dry = app.reprocess(*args, "--key-file", str(key_file), "--dry-run", env=storage)
    assert dry.code == 0, dry.stderr
    assert dry.summary["comparedWith"] == "instances" and dry.summary["wouldStart"] == 10

    healed = app.reprocess(*args, env={**storage, "DURABLETASK_KEY": KEY})

    assert healed.code == 0, healed.stdout + healed.stderr
    assert (healed.summary["started"], healed.summary["stored"]) == (10, 10)
    assert KEY not in healed.stdout + healed.stderr + dry.stdout + dry.stderr
    assert_exact_rows(app)
    with_sql = app.reprocess(*args, env={**storage, "DURABLETASK_KEY": KEY,
                                         "SqlConnectionString": app.pipeline.sql})  # fmt: skip
    assert with_sql.summary["comparedWith"] == "ImageMetadata"
    assert with_sql.summary["started"] == 0


def test_deployed_mode_storage_problems_are_one_line(app: App) -> None:
    host = app.pipeline.devhost
    env = {"DURABLETASK_KEY": KEY, "AZURE_STORAGE_KEY": ACCOUNT_KEY}
    closed = f"http://127.0.0.1:{free_port()}/{ACCOUNT}"
    unreachable = app.reprocess("--url", host.base_url, "--account-url", closed, env=env)
    assert unreachable.code == 2, unreachable.stderr
    assert unreachable.stderr.startswith("reprocess: cannot list images-input in")
    assert len(unreachable.stderr.strip().splitlines()) == 1
    # The signed-in identity: DefaultAzureCredential, limited to the Azure CLI here (no
    # managed-identity probe leaves this machine); without `az login` it is one line too.
    https = f"https://127.0.0.1:{free_port()}/{ACCOUNT}"
    identity = app.reprocess(
        "--url", host.base_url, "--account-url", https,
        env={"DURABLETASK_KEY": KEY, "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential"},
    )  # fmt: skip
    assert identity.code == 2, identity.stdout + identity.stderr
    assert "no Azure identity" in identity.stderr
    assert len(identity.stderr.strip().splitlines()) == 1
