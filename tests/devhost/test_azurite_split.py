"""devhost.azurite's split mode (DEVHOST_AZURITE_SPLIT=1): Azurite's three service binaries
under one shell. What the single binary guarantees must hold: a stop saves every service's data
(azurite-table closes on SIGINT only; queue/main.js, blob/main.js and table/main.js in
Azurite's dist name the signals each handles), a restart finds it, and one service dying ends
the whole emulator instead of leaving a partial one."""

from __future__ import annotations

from pathlib import Path

import psutil
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite
from tests.waiting import wait_until


def names(az: Azurite) -> tuple[list[str], list[str], list[str]]:
    cs = az.connection_string
    return (
        [q.name for q in QueueServiceClient.from_connection_string(cs).list_queues()],
        [t.name for t in TableServiceClient.from_connection_string(cs).list_tables()],
        [c.name for c in BlobServiceClient.from_connection_string(cs).list_containers()],
    )


def test_split_azurite_keeps_data_across_a_restart_and_dies_whole(tmp_path: Path) -> None:
    az = Azurite(location=tmp_path / "data", log_path=tmp_path / "azurite.log", split=True)
    with az:
        assert az.process is not None
        services = psutil.Process(az.process.pid).children()
        assert sorted(Path(p.cmdline()[1]).name for p in services) == [
            "azurite-blob", "azurite-queue", "azurite-table",
        ]  # fmt: skip
        cs = az.connection_string
        QueueServiceClient.from_connection_string(cs).create_queue("kept-queue")
        TableServiceClient.from_connection_string(cs).create_table("KeptTable")
        BlobServiceClient.from_connection_string(cs).create_container("kept-container")
        az.stop()
        az.start()
        assert names(az) == (["kept-queue"], ["KeptTable"], ["kept-container"])
        services = psutil.Process(az.process.pid).children()
        services[0].kill()
        wait_until(
            lambda: az.process is not None and az.process.poll() is not None,
            timeout=30,
            message="the emulator outlived a dead service",
        )
        wait_until(
            lambda: (
                not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in services)
            ),
            timeout=30,
            message="a service outlived the emulator",
        )
