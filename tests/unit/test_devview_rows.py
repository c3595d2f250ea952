"""The image pipeline's Rows view (imagemeta/devview.py `rows`) on the real SQLite ODBC driver:
pages newest first with a keyset continuation, each page bounded, times in UTC."""

from __future__ import annotations

import pytest

from imagemeta import db, devview
from imagemeta.extract import ImageMetadata
from imagemeta.store import MetadataStore


def _meta(i: int) -> ImageMetadata:
    return ImageMetadata(
        FileName=f"f/{i:03d}.png", FileSizeKB=1, Width=10 + i, Height=5, Format="PNG",
        ColorMode="RGB", BlobETag=f'"0x{i}"', UploadedOn="2026-11-25T10:11:12Z",
    )  # fmt: skip


@pytest.fixture
def sql(sqlite_connection_string: str) -> str:
    db.migrate(sqlite_connection_string)
    store = MetadataStore(sqlite_connection_string)
    for i in range(7):
        assert store.insert(_meta(i)) == "stored"
    store.close()
    return sqlite_connection_string


def test_pages_follow_the_continuation_to_the_last_row(sql: str) -> None:
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page = devview.rows(sql, 3, None, after=after)
        assert page["total"] == 7 and len(page["rows"]) <= 3
        seen += [r["FileName"] for r in page["rows"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 3
    assert seen == [f"f/{i:03d}.png" for i in reversed(range(7))]  # newest first, none twice


def test_a_full_last_page_has_no_continuation(sql: str) -> None:
    first = devview.rows(sql, 7, None)
    assert len(first["rows"]) == 7 and first["next"] is None


def test_a_name_filter_pages_too_and_a_bad_continuation_is_refused(sql: str) -> None:
    one = devview.rows(sql, 5, "f/004.png")
    assert [r["FileName"] for r in one["rows"]] == ["f/004.png"] and one["next"] is None
    with pytest.raises(ValueError, match="not a row id"):
        devview.rows(sql, 5, None, after="1; DROP TABLE ImageMetadata")
    assert devview.rows(sql, 1, None)["total"] == 7


def test_times_are_utc() -> None:
    from datetime import UTC, datetime, timedelta, timezone  # noqa: PLC0415

    naive = datetime(2026, 11, 25, 10, 11, 12)  # what SQL Server's datetime2 returns
    assert devview._plain(naive) == "2026-11-25T10:11:12Z"
    cet = datetime(2026, 11, 25, 11, 11, 12, tzinfo=timezone(timedelta(hours=1)))
    assert devview._plain(cet) == "2026-11-25T10:11:12Z"
    assert devview._plain(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
