"""The real app under devhost: blob upload → orchestration → row, checked in SQL and over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.harness import Pipeline, image_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(pipeline_factory: Callable[..., Pipeline]) -> Pipeline:
    return pipeline_factory()


def test_mixed_uploads_end_in_exact_rows_and_statuses(pipeline: Pipeline) -> None:
    jpeg = image_bytes("JPEG", (640, 480))
    uploads = {
        "photo.jpg": jpeg,
        "same-bytes-other-name.JPG": jpeg,
        "diagram.png": image_bytes("PNG", (320, 200), "RGBA"),
        "anim.gif": image_bytes("GIF", (33, 17), "P"),
        "cats/nested/deep.png": image_bytes("PNG", (5, 7)),
        "ünïcødé 'quoted' name.jpeg": image_bytes("JPEG", (12, 34)),
        "really-a-png.jpg": image_bytes("PNG", (9, 9)),
        "notes.jpg": b"this is text, not an image",
        "empty.png": b"",
        "truncated.jpg": jpeg[:300],  # cut inside the header (pixels are never read)
    }
    etags = {name: pipeline.upload(name, data) for name, data in uploads.items()}
    pipeline.upload("readme.txt", b"not watched by extension")

    done = pipeline.wait_terminal(set(etags.items()))

    assert {v["runtimeStatus"] for v in done.values()} == {"Completed"}
    outcome = {name: done[(name, etags[name])]["output"]["status"] for name in uploads}
    rejected = {"notes.jpg", "empty.png", "truncated.jpg"}
    assert {n for n, s in outcome.items() if s == "rejected"} == rejected
    assert {n for n, s in outcome.items() if s == "stored"} == set(uploads) - rejected
    for name in rejected:
        assert done[(name, etags[name])]["output"]["reason"]

    rows = {r["FileName"]: r for r in pipeline.rows()}
    assert set(rows) == set(uploads) - rejected
    got = {n: (r["Width"], r["Height"], r["Format"]) for n, r in rows.items()}
    assert got == {
        "photo.jpg": (640, 480, "JPEG"),
        "same-bytes-other-name.JPG": (640, 480, "JPEG"),
        "diagram.png": (320, 200, "PNG"),
        "anim.gif": (33, 17, "GIF"),
        "cats/nested/deep.png": (5, 7, "PNG"),
        "ünïcødé 'quoted' name.jpeg": (12, 34, "JPEG"),
        "really-a-png.jpg": (9, 9, "PNG"),
    }
    assert rows["photo.jpg"]["BlobETag"].strip('"') == etags["photo.jpg"].strip('"')
    # The .txt blob never started an orchestration.
    assert not pipeline.instances_for({"readme.txt"})


def test_new_content_gives_a_new_row_and_old_row_stays(pipeline: Pipeline) -> None:
    first = pipeline.upload("versioned.png", image_bytes("PNG", (10, 10)))
    pipeline.wait_terminal({("versioned.png", first)})
    second = pipeline.upload("versioned.png", image_bytes("PNG", (20, 30)))
    pipeline.wait_terminal({("versioned.png", second)})

    rows = [r for r in pipeline.rows() if r["FileName"] == "versioned.png"]
    assert sorted((r["Width"], r["Height"]) for r in rows) == [(10, 10), (20, 30)]


def test_restart_does_not_refire_processed_blobs(pipeline: Pipeline) -> None:
    etag = pipeline.upload("before-restart.gif", image_bytes("GIF", (4, 4), "P"))
    pipeline.wait_terminal({("before-restart.gif", etag)})
    rows_before = len(pipeline.rows())
    instances_before = len(pipeline.devhost.list_instances())

    pipeline.devhost.stop()
    pipeline.devhost.start()
    after = pipeline.upload("after-restart.gif", image_bytes("GIF", (6, 6), "P"))
    pipeline.wait_terminal({("after-restart.gif", after)})

    assert len(pipeline.rows()) == rows_before + 1
    assert len(pipeline.devhost.list_instances()) == instances_before + 1
