"""The floor and the naive baseline: per-image work with no orchestration around it.

Floor = what the job cannot avoid: one ranged read of the blob prefix, one Pillow header
parse, one parameterized INSERT. Naive = what most samples do: download the whole blob and
decode every pixel. Both run in a plain loop with the same thread count as devhost's workers.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import local

import pyodbc
from azure.storage.blob import ContainerClient
from PIL import Image

PREFIX = 64 * 1024
DDL = (
    "CREATE TABLE IF NOT EXISTS FloorRows (Id INTEGER PRIMARY KEY, FileName TEXT, "
    "FileSizeKB INT, Width INT, Height INT, Format TEXT)"
)
INSERT = "INSERT INTO FloorRows (FileName, FileSizeKB, Width, Height, Format) VALUES (?,?,?,?,?)"


@dataclass
class LoopResult:
    images: int
    seconds: float
    images_per_s: float
    bytes_read: int


def _run(names: list[str], work: Callable[[str], int], threads: int) -> LoopResult:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(work, names))
    secs = time.perf_counter() - start
    return LoopResult(len(names), secs, len(names) / secs, total)


def _connections(sql: str) -> Callable[[], pyodbc.Connection]:
    tls = local()

    def get() -> pyodbc.Connection:
        if not hasattr(tls, "conn"):
            tls.conn = pyodbc.connect(sql, autocommit=True)
            tls.conn.execute(DDL)
        return tls.conn

    return get


def floor(container: ContainerClient, names: list[str], sql: str, threads: int) -> LoopResult:
    conn = _connections(sql)

    def work(name: str) -> int:
        blob = container.get_blob_client(name)
        dl = blob.download_blob(offset=0, length=PREFIX)
        data = dl.readall()
        size = dl.properties.size
        im = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "GIF"])
        conn().execute(INSERT, name, -(-size // 1024), im.width, im.height, im.format)
        return len(data)

    return _run(names, work, threads)


def naive(container: ContainerClient, names: list[str], sql: str, threads: int) -> LoopResult:
    conn = _connections(sql)

    def work(name: str) -> int:
        data = container.get_blob_client(name).download_blob().readall()
        im = Image.open(io.BytesIO(data))
        im.load()  # full decode, as samples that call Image.open(...).convert() etc. do
        conn().execute(INSERT, name, -(-len(data) // 1024), im.width, im.height, im.format)
        return len(data)

    return _run(names, work, threads)
