"""`python -m imagemeta.db rows` on the real SQLite ODBC driver: one line per blob version,
newest first, with the version's ETag and upload time, `--name` to follow one file, 80 columns.

After `make demo`, `make start` + `devhost upload samples/` used to give each sample a second
row that could not be told apart from the first (no version column); these pin what tells
them apart now."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devhost.process import REPO_ROOT
from imagemeta import db
from imagemeta.extract import ImageMetadata
from imagemeta.store import MetadataStore

LONG = "holiday-2026/day-03/a-rather-long-file-name-from-a-camera-roll-IMG_0042.jpeg"


def meta(name: str, etag: str, uploaded: str, width: int = 640) -> ImageMetadata:
    return ImageMetadata(FileName=name, FileSizeKB=72, Width=width, Height=480, Format="JPEG",
                         ColorMode="RGB", BlobETag=etag, UploadedOn=uploaded)  # fmt: skip


@pytest.fixture
def sql(sqlite_connection_string: str) -> str:
    db.migrate(sqlite_connection_string)
    store = MetadataStore(sqlite_connection_string)
    store.insert(meta("sunset.jpg", '"0x8DE2C3F5A1B2C01"', "2026-11-25T10:00:00Z"))
    store.insert(meta("diagram.png", '"0x8DE2C3F5A1B2C02"', "2026-11-25T10:00:05Z"))
    store.insert(meta("sunset.jpg", '"0x8DE2C3F5A1B2CFF"', "2026-11-25T11:30:00Z", width=10))
    store.insert(meta(LONG, '"0x8DE2C3F5A1B2C03"', "2026-11-25T09:00:00Z"))
    store.insert(meta("100%_real[1].png", '"0x8DE2C3F5A1B2C04"', "2026-11-25T08:00:00Z"))
    store.insert(meta("bell\x07\x1b[31m.png", '"0x8DE2C3F5A1B2C05"', "2026-11-25T07:00:00Z"))
    return sqlite_connection_string


def rows(sql: str, *args: str, columns: int = 80) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "imagemeta.db", "rows", "--connection-string", sql, *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": str(columns), "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_versions_newest_first_with_etag_and_time_in_80_columns(sql: str) -> None:
    out = rows(sql)
    assert all(len(line) <= 80 for line in out), "\n".join(out)
    header, _rule, *body, footer = out
    assert header.split()[:2] == ["File", "KB"] and "ETag" in header and "Uploaded" in header
    assert footer == "(6 versions, newest first)"
    assert [line.split()[0] for line in body[:2]] == ["sunset.jpg", "diagram.png"]
    newest, older = body[0], next(line for line in body[1:] if line.startswith("sunset.jpg"))
    assert "10x480" in newest and "2026-11-25 11:30" in newest and newest.endswith("A1B2CFF")
    assert "640x480" in older and "2026-11-25 10:00" in older and older.endswith("A1B2C01")
    long_name = next(line for line in body if line.startswith("holiday-")).split()[0]
    assert "…" in long_name and long_name.endswith("42.jpeg")  # both ends of the name kept


def test_wide_terminal_shows_everything_whole(sql: str) -> None:
    out = rows(sql, columns=200)
    assert any(LONG in line for line in out)
    assert any("0x8DE2C3F5A1B2CFF" in line and "11:30:00" in line for line in out)


def test_name_filter_follows_one_file_and_takes_wildcards_only_as_given(sql: str) -> None:
    one = rows(sql, "--name", "sunset.jpg")
    assert one[-1] == "(2 versions of sunset.jpg, newest first)"
    assert [line.split()[0] for line in one[2:-1]] == ["sunset.jpg", "sunset.jpg"]
    pngs = rows(sql, "--name", "*.png")
    assert pngs[-1].startswith("(3 versions of *.png")
    literal = rows(sql, "--name", "100%_real[1].png")  # %, _ and [ match themselves
    assert literal[-1].startswith("(1 version of 100%_real[1].png")
    assert rows(sql, "--name", "100_")[-1].startswith("(0 versions")


def test_names_are_escaped_before_they_reach_the_terminal(sql: str) -> None:
    out = "\n".join(rows(sql, "--name", "bell*", columns=200))
    assert "\x1b" not in out and "\x07" not in out
    assert "bell\\x07\\x1b[31m.png" in out
