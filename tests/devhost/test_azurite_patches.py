"""devhost/azurite_patches.py: the look-up fixes to Azurite 3.37.0's LokiJS stores.

The unit half checks the patcher on copies of the two files (original -> patched, idempotent,
another version or foreign text refused in one line). The storage half runs the real, patched
Azurite through the requests whose look-ups were reordered and checks Azure Storage's answers:
the same RowKey in many partitions (DurableTask's layout: `""` in Instances, `sentinel` in
History), a duplicate insert, merges with and without If-Match, deletes, a batch; queue messages
in two queues, received, peeked and deleted with right and wrong pop receipts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from devhost import azurite_patches
from devhost.azurite import Azurite
from devhost.azurite_patches import (
    AZURITE,
    NODE_MODULES,
    PATCHES,
    VERSIONS,
    PatchError,
    apply,
    state,
)
from tests.waiting import wait_until

INSTALLED = azurite_patches.ROOT


def original_tree(root: Path) -> Path:
    """Copies of the patched files with every patch undone, under a fake node_modules."""
    for package in VERSIONS:
        manifest = NODE_MODULES / package / "package.json"
        (root / manifest).parent.mkdir(parents=True)
        shutil.copy(INSTALLED / manifest, root / manifest)
    for p in PATCHES:
        target = root / p.path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(INSTALLED / p.path, target)
    for p in PATCHES:
        target = root / p.path
        target.write_text(target.read_text().replace(p.new, p.old))
    return root


@pytest.mark.unit
def test_the_installed_azurite_is_patched() -> None:
    """scripts/bootstrap.sh runs the patcher after npm ci: every install ends patched."""
    assert state() == "patched"


@pytest.mark.unit
def test_patching_is_exact_and_idempotent(tmp_path: Path) -> None:
    root = original_tree(tmp_path)
    assert state(root) == "original"
    assert apply(root) == len(PATCHES)
    assert state(root) == "patched"
    assert apply(root) == 0
    for p in PATCHES:  # byte for byte what the installed, patched Azurite runs
        assert (root / p.path).read_text() == (INSTALLED / p.path).read_text()


@pytest.mark.unit
def test_an_install_patched_by_an_earlier_devhost_is_brought_up_to_date(tmp_path: Path) -> None:
    """The first entity-key fix only swapped findOne's keys; an install patched that way is
    re-patched, not refused (scripts/bootstrap.sh runs the patcher on every install)."""
    root = original_tree(tmp_path)
    earlier = [p for p in PATCHES if p.superseded]
    assert earlier
    for p in earlier:
        target = root / p.path
        target.write_text(target.read_text().replace(p.old, p.superseded[0]))
    assert state(root) == "original"
    assert apply(root) == len(PATCHES)
    assert state(root) == "patched"
    for p in PATCHES:
        assert (root / p.path).read_text() == (INSTALLED / p.path).read_text()


@pytest.mark.unit
def test_the_bootstrap_command_exits_2_in_one_line_on_another_azurite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m devhost.azurite_patches` (scripts/bootstrap.sh, after npm ci): applies and
    says so once, is silent when there is nothing to do, and refuses another version."""
    root = original_tree(tmp_path)
    assert azurite_patches.main([], root) == 0
    applied = f"{len(PATCHES)} performance patches applied to Azurite {azurite_patches.VERSION}"
    assert capsys.readouterr().out == f"azurite_patches: {applied}\n"
    assert azurite_patches.main([], root) == 0
    assert capsys.readouterr().out == ""
    assert azurite_patches.main(["--check"], root) == 0
    assert capsys.readouterr().out == "patched\n"
    package = root / AZURITE / "package.json"
    package.write_text(json.dumps({**json.loads(package.read_text()), "version": "3.38.0"}))
    for argv in ([], ["--check"]):
        assert azurite_patches.main(argv, root) == 2
        got = capsys.readouterr()
        assert got.out == ""
        assert got.err.startswith("azurite_patches: Azurite 3.38.0 installed, the patches are")
        assert got.err.count("\n") == 1


@pytest.mark.unit
def test_another_azurite_is_refused_in_one_line(tmp_path: Path) -> None:
    root = original_tree(tmp_path)
    package = root / AZURITE / "package.json"
    package.write_text(json.dumps({**json.loads(package.read_text()), "version": "3.38.0"}))
    with pytest.raises(PatchError, match=r"^Azurite 3\.38\.0 installed, the patches are for"):
        apply(root)
    root = original_tree(tmp_path / "loki")
    package = root / NODE_MODULES / "lokijs" / "package.json"
    package.write_text(json.dumps({**json.loads(package.read_text()), "version": "1.5.13"}))
    with pytest.raises(
        PatchError, match=r"^lokijs 1\.5\.13 installed, the patches are for 1\.5\.12"
    ):
        apply(root)
    root = original_tree(tmp_path / "foreign")
    store = root / PATCHES[0].path
    store.write_text(store.read_text().replace(PATCHES[0].old, "changed upstream"))
    with pytest.raises(PatchError, match=r"is neither Azurite 3\.37\.0's nor patched"):
        apply(root)
    assert state(tmp_path / "nothing") == "absent"


def test_entities_sharing_a_row_key_across_partitions(azurite: Azurite, unique_name: str) -> None:
    table = TableClient.from_connection_string(azurite.connection_string, "T" + unique_name)
    table.create_table()
    for i in range(50):
        table.create_entity({"PartitionKey": f"p{i:02d}", "RowKey": "", "N": i})
        table.create_entity({"PartitionKey": f"p{i:02d}", "RowKey": "sentinel", "N": -i})
    with pytest.raises(ResourceExistsError):
        table.create_entity({"PartitionKey": "p07", "RowKey": "", "N": 0})
    assert table.get_entity("p31", "")["N"] == 31
    assert table.get_entity("p31", "sentinel")["N"] == -31
    table.update_entity({"PartitionKey": "p12", "RowKey": "", "M": "x"}, UpdateMode.MERGE)
    assert dict(table.get_entity("p12", "")) == {
        "PartitionKey": "p12",
        "RowKey": "",
        "N": 12,
        "M": "x",
    }
    stale = table.get_entity("p13", "")
    table.update_entity({"PartitionKey": "p13", "RowKey": "", "N": 130}, UpdateMode.REPLACE)
    with pytest.raises(HttpResponseError) as failed:
        table.update_entity(
            {"PartitionKey": "p13", "RowKey": "", "N": 0},
            UpdateMode.MERGE,
            etag=stale.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    assert failed.value.status_code == 412
    table.delete_entity("p20", "")
    with pytest.raises(ResourceNotFoundError):
        table.get_entity("p20", "")
    assert table.get_entity("p20", "sentinel")["N"] == -20
    table.submit_transaction(
        [
            ("create", {"PartitionKey": "p40", "RowKey": "0000000000000000", "N": 1}),
            ("upsert", {"PartitionKey": "p40", "RowKey": "sentinel", "N": 400}),
        ]
    )
    with pytest.raises(HttpResponseError):  # one create in the batch exists: all rolled back
        table.submit_transaction(
            [
                ("create", {"PartitionKey": "p41", "RowKey": "0000000000000000", "N": 1}),
                ("create", {"PartitionKey": "p41", "RowKey": "", "N": 1}),
            ]
        )
    with pytest.raises(ResourceNotFoundError):
        table.get_entity("p41", "0000000000000000")
    assert table.get_entity("p40", "sentinel")["N"] == 400
    assert len(list(table.query_entities("RowKey eq ''"))) == 49


def test_messages_in_two_queues_stay_apart(azurite: Azurite, unique_name: str) -> None:
    cs = azurite.connection_string
    a = QueueClient.from_connection_string(cs, unique_name + "-a")
    b = QueueClient.from_connection_string(cs, unique_name + "-b")
    for q in (a, b):
        q.create_queue()
    for i in range(5):
        a.send_message(f"a{i}")
        b.send_message(f"b{i}")
    assert [m.content for m in a.peek_messages(max_messages=32)] == [f"a{i}" for i in range(5)]
    got = list(a.receive_messages(messages_per_page=3, max_messages=3, visibility_timeout=30))
    assert [m.content for m in got] == ["a0", "a1", "a2"]
    with pytest.raises(HttpResponseError) as wrong:
        b.delete_message(got[0].id, got[0].pop_receipt)  # a's message through queue b
    assert wrong.value.status_code == 404
    with pytest.raises(HttpResponseError) as mismatch:
        a.delete_message(got[0].id, "AAAAAAAAAAAAAAAAAAAAAA==")
    assert mismatch.value.status_code == 400
    for m in got:
        a.delete_message(m)
    assert [m.content for m in a.peek_messages(max_messages=32)] == ["a3", "a4"]
    assert len(b.peek_messages(max_messages=32)) == 5
    # Visibility orders the queue, insertion breaks ties: a3, hidden and shown again, goes last.
    a.send_message("a5")
    (a3,) = a.receive_messages(messages_per_page=1, max_messages=1, visibility_timeout=30)
    assert a3.content == "a3"
    a.update_message(a3, visibility_timeout=0)
    assert [m.content for m in a.peek_messages(max_messages=32)] == ["a4", "a5", "a3"]
    got = list(a.receive_messages(messages_per_page=2, max_messages=2, visibility_timeout=30))
    assert [m.content for m in got] == ["a4", "a5"]


@pytest.mark.host  # starts node
def test_autosave_waits_twenty_times_its_last_save() -> None:
    """The LokiJS autosave patch (node_modules/lokijs/src/lokijs.js, `autosaveEnable`), run by
    node with a fake clock and fake timers: a 300 ms save is followed by a 6 s wait, a clean
    database by the plain interval; a save finishing after the autosave was disabled schedules
    nothing; close still saves what is dirty."""
    script = Path(__file__).parent / "js" / "loki_autosave.js"
    done = subprocess.run(
        ["node", str(script), str(INSTALLED / NODE_MODULES / "lokijs")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "waits": [1000, 6000, 6000, 1000, 1000, 1000],
        "saves": 5,
        "afterDisable": 0,
        "pending": 0,
        "dirty": False,
    }


def test_entities_loaded_from_disk_are_found_by_key(tmp_path: Path) -> None:
    """The key map (`findEntity` in the patched LokiTableMetadataStore.js) is built from a
    collection's data on first use: after a restart every persisted entity is found, replaced,
    merged and deleted, and a failed batch's rollback (which re-inserts copies) leaves them
    findable."""
    az = Azurite(location=tmp_path / "data", log_path=tmp_path / "azurite.log")
    with az:
        table = TableClient.from_connection_string(az.connection_string, "Restarted")
        table.create_table()
        for i in range(40):
            table.create_entity({"PartitionKey": f"p{i % 4}", "RowKey": f"{i:04d}", "N": i})
        az.stop()
        az.start()
        table = TableClient.from_connection_string(az.connection_string, "Restarted")
        assert table.get_entity("p1", "0005")["N"] == 5
        with pytest.raises(ResourceExistsError):
            table.create_entity({"PartitionKey": "p1", "RowKey": "0005", "N": 0})
        table.update_entity({"PartitionKey": "p2", "RowKey": "0006", "N": 60}, UpdateMode.REPLACE)
        table.update_entity({"PartitionKey": "p3", "RowKey": "0007", "M": 7}, UpdateMode.MERGE)
        table.delete_entity("p0", "0008")
        with pytest.raises(HttpResponseError):  # the merge is rolled back with the batch
            table.submit_transaction(
                [
                    (
                        "update",
                        {"PartitionKey": "p1", "RowKey": "0009", "N": 90},
                        {"mode": "merge"},
                    ),
                    ("create", {"PartitionKey": "p1", "RowKey": "0013", "N": 0}),
                ]
            )
        assert table.get_entity("p1", "0009")["N"] == 9
        table.update_entity({"PartitionKey": "p1", "RowKey": "0009", "N": 91}, UpdateMode.MERGE)
        assert table.get_entity("p1", "0009")["N"] == 91
        assert table.get_entity("p2", "0006")["N"] == 60
        assert dict(table.get_entity("p3", "0007")) == {
            "PartitionKey": "p3", "RowKey": "0007", "N": 7, "M": 7,
        }  # fmt: skip
        with pytest.raises(ResourceNotFoundError):
            table.get_entity("p0", "0008")
        assert len(list(table.query_entities("PartitionKey eq 'p1'"))) == 10


def test_an_expired_message_is_swept_at_the_next_request(
    azurite: Azurite, unique_name: str
) -> None:
    """The soonest-expiry note (`mayHaveExpired` in the patched LokiQueueMetadataStore.js) lets
    a request skip the expired-message sweep only while nothing in the queue can have expired:
    a message sent with a short TTL after a long-lived one (noted by the insert event) is still
    swept once its time has passed, so its pop receipt no longer deletes anything."""
    q = QueueClient.from_connection_string(azurite.connection_string, unique_name)
    q.create_queue()
    q.send_message("long")
    assert [m.content for m in q.peek_messages(max_messages=32)] == ["long"]  # noted: 7 days
    sent = q.send_message("short", time_to_live=1)
    got = {m.content: m for m in q.receive_messages(max_messages=32, visibility_timeout=300)}
    assert sorted(got) == ["long", "short"]
    short = got["short"]
    q.update_message(got["long"], visibility_timeout=0)  # visible again (an update event)
    past = sent.expires_on + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) > past, timeout=30, message="the TTL to pass")
    assert [m.content for m in q.peek_messages(max_messages=32)] == ["long"]
    with pytest.raises(HttpResponseError) as swept:
        q.delete_message(short.id, short.pop_receipt)
    assert swept.value.status_code == 404


def test_queries_that_name_the_partition(azurite: Azurite, unique_name: str) -> None:
    """A filter that pins the partition (`entitiesFor` in the patched LokiTableMetadataStore.js)
    starts from that partition; the answers are the filter's, in key order, page by page.
    Partition keys "10" and "010" are equal as numbers to LokiJS's index order, not to `eq`."""
    table = TableClient.from_connection_string(azurite.connection_string, "Q" + unique_name)
    table.create_table()
    for pk in ("p1", "p2", "10", "010"):
        for i in range(5, 0, -1):
            table.create_entity({"PartitionKey": pk, "RowKey": f"{i:04d}", "N": i})

    def rows(query: str, per_page: int | None = None) -> list[str]:
        found = table.query_entities(query, results_per_page=per_page)
        return [f"{e['PartitionKey']}/{e['RowKey']}" for e in found]

    p1 = [f"p1/{i:04d}" for i in range(1, 6)]
    assert rows("PartitionKey eq 'p1'") == p1
    assert rows("PartitionKey eq 'p1'", per_page=2) == p1
    assert rows("PartitionKey eq 'p1' and RowKey ge '0003'") == p1[2:]
    assert rows("RowKey eq '0002' and PartitionKey eq 'p2'") == ["p2/0002"]
    assert rows("(PartitionKey eq 'p1' and N gt 2) and RowKey lt '0005'") == p1[2:4]
    assert rows("PartitionKey eq 'p1' or PartitionKey eq 'p2'") == p1 + [
        f"p2/{i:04d}" for i in range(1, 6)
    ]
    assert rows("PartitionKey eq '10'") == [f"10/{i:04d}" for i in range(1, 6)]
    assert rows("PartitionKey eq '010' and N eq 3") == ["010/0003"]
    assert rows("PartitionKey eq 'p3'") == []
    table.delete_entity("p1", "0001")
    table.create_entity({"PartitionKey": "p1", "RowKey": "0000", "N": 0})
    assert rows("PartitionKey eq 'p1'") == ["p1/0000", *p1[1:]]


@pytest.mark.host  # starts node
def test_dispatch_compiles_templates_once_and_parses_a_query_once(tmp_path: Path) -> None:
    """The dispatch patches (`ExpressRequestAdapter.getQuery`, `utils.isURITemplateMatch` in
    each service's generated middleware), run by node against the original files: every
    operation template matches every path as before, now and from the cache; a URL's query
    is parsed once, and again when the URL changes (Express 5's `req.query` is a getter)."""
    root = original_tree(tmp_path)
    script = Path(__file__).parent / "js" / "dispatch_once.js"
    done = subprocess.run(
        ["node", str(script), str(INSTALLED / NODE_MODULES), str(root / NODE_MODULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"NODE_PATH": str(INSTALLED / NODE_MODULES), "PATH": "/usr/bin:/bin"},
    )
    got = json.loads(done.stdout)
    assert got["differ"] == [] and got["compared"] > 1000
    for service in got["parses"]:
        assert service["first"] == ["lease", "x", "a+b", None], service
        assert (service["second"], service["parses"]) == (["metadata", None], 2), service
