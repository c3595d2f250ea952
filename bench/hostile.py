"""Cost of hostile inputs: ExtractMetadata on hostile headers, the blob trigger on big blobs.

`python -m bench --only hostile,trigger`. Every case runs in its own subprocess (a fresh heap;
the RSS high-water mark VmHWM reset after a warm-up extraction that loads Pillow's plugins and
the storage SDK), so the figures are what one more image costs:

* hostile: CPU seconds per image (process_time), wall, peak RSS delta (VmHWM), peak Python heap
  (tracemalloc, in a second run so its overhead is not in the CPU figure) per image, against
  the goal of 0.2 s and 20 MB; and eight copies of the worst cases at once on eight threads
  (what devhost's workers do). The cases: issue 12's and issue 20's hostile files, the largest
  accepted ones, and the generated set (tests/security/hostile_files.py): every PNG chunk type
  Pillow 13 handles and one JPEG marker per Pillow handler/identifier, each at the most
  segments the bounds accept ("max"), one more ("over") and at its largest ("big").
* trigger: the InputStream a v1 Python blob trigger receives: the worker gets the blob as one
  bytes field and azure.functions' BlobConverter wraps it; BlobTriggerClient then skips the
  non-image name. Measured: RSS and time to hold that datum, for 200 MB and 2 GB. The real
  host also holds the download (.NET) and the gRPC message (worker): at least 2x more.
* trigger-devhost (not a default section: it uploads a 2 GB blob): the same through devhost,
  from upload to its "Skipping" log line, devhost's RSS sampled.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from devhost.process import REPO_ROOT
from imagemeta.textsafe import escape_text

MB = 1024 * 1024
# Figures from issue 12 (before the pre-scan), for the table.
BEFORE = {
    "png-1.3M-private-chunks.png": "8.7 s, +201 MB",
    "png-15MB-iTXt.png": "+119 MB",
    "jpeg-12MB-APP2.jpg": "+48 MB",
    "8x png-1.3M-private-chunks.png": "89-91 s each, host RSS 1.67 GB",
    "trigger 200 MB .mp4": "RSS 83 -> 333 MB",
    "png-511-iCCP.png": "0.3-0.7 s, stored",
    "png-511-zTXt-no-keyword.png": "0.3-0.7 s, stored",
    "png-511-iTXt-not-utf8.png": "0.3-0.7 s, stored",
    "8x png-511-iCCP.png": "6.4 s CPU for the eight",
    "ok-jpeg-65535-entry-EXIF.jpg": "0.5 s, 13.8 MB of warnings",
}
TARGET_CPU_S, TARGET_RSS_MB = 0.2, 20.0  # issue 12's goal per hostile image
EIGHT_AT_ONCE = ("png-1.3M-private-chunks.png", "png-511-iCCP.png")
WARMUP = "hostile/warmup.png"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:  # noqa: PTH123 - procfs
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0): ru_maxrss survives fork+exec, so a
    child would otherwise report the bench parent's peak."""
    with open("/proc/self/clear_refs", "w") as f:  # noqa: PTH123 - procfs
        f.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as f:  # noqa: PTH123 - procfs
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_extract(names: list[str]) -> dict[str, Any]:
    """In the child: extract `names` (concurrently when several), after a warm-up."""
    from imagemeta.activities import extract_metadata  # noqa: PLC0415

    etags = json.loads(os.environ["BENCH_ETAGS"])

    def run(name: str) -> dict[str, Any]:
        ref = {"container": "images-input", "name": name, "etag": etags[name]}
        return extract_metadata(ref)

    run(WARMUP)
    gc.collect()
    _reset_peak()
    rss0, cpu0, t0 = _rss_mb(), time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        outs = list(pool.map(run, names))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    peak_rss = _peak_mb() - rss0
    gc.collect()
    tracemalloc.start()
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(run, names))
    heap = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    out = outs[0]
    return {
        "cpu_s": cpu / len(names),
        "wall_s": wall,
        "rss_delta_mb": max(0.0, peak_rss),
        "heap_peak_mb": heap / len(names),
        "rss_mb": _peak_mb(),
        "outcome": out.get("reason") if out["rejected"] else "accepted",
        "bytes_read": (out.get("metadata") or {}).get("BytesRead"),
    }


def _measure_trigger(size: int) -> dict[str, Any]:
    """In the child: the datum the worker builds for a blob trigger, then the function."""
    import azure.functions as func  # noqa: PLC0415
    from azure.functions import meta  # noqa: PLC0415

    from BlobTriggerClient import main  # noqa: PLC0415

    logging.disable(logging.INFO)
    gc.collect()
    _reset_peak()
    rss0, t0 = _rss_mb(), time.perf_counter()
    content = b"\xab" * size  # the gRPC bytes field, every page written as a download does
    props = {"ContentLength": size, "ETag": '"0x1"', "LastModified": "2026-11-25T00:00:00Z"}
    stream = func.blob.BlobConverter.decode(
        meta.Datum(type="bytes", value=content),
        trigger_metadata={
            "BlobTrigger": meta.Datum(type="string", value="images-input/movie.mp4"),
            "Uri": meta.Datum(type="string", value="http://127.0.0.1/images-input/movie.mp4"),
            "Properties": meta.Datum(type="json", value=json.dumps(props)),
        },
    )
    del content
    asyncio.run(main(stream, "{}"))  # skips: not a .jpg/.jpeg/.png/.gif
    return {
        "bytes": size,
        "rss_delta_mb": _peak_mb() - rss0,
        "seconds": time.perf_counter() - t0,
    }


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.hostile", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_hostile(connection_string: str) -> list[dict[str, Any]]:
    """Upload every case once, then one subprocess per case; prints the table and a verdict."""
    from PIL import Image  # noqa: PLC0415

    from tests.images import save  # noqa: PLC0415
    from tests.security.hostile_files import HOSTILE, JUST_UNDER, bench_generated  # noqa: PLC0415

    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client("images-input")
    if not container.exists():
        container.create_container()
    etags: dict[str, str] = {}
    cases_files = {**HOSTILE, **JUST_UNDER, **bench_generated()}
    files = {WARMUP: lambda: save(Image.new("RGB", (8, 8)), "PNG"), **cases_files}
    for name, build in files.items():
        data = build()
        copies = 8 if name in EIGHT_AT_ONCE else 1
        for i in range(copies):
            blob = f"hostile/{i}/{name}" if i else (name if name == WARMUP else f"hostile/{name}")
            client = container.get_blob_client(blob)
            etags[blob] = client.upload_blob(data, overwrite=True, max_concurrency=4)["etag"]
    env = {"AzureWebJobsStorage": connection_string, "BENCH_ETAGS": json.dumps(etags)}
    cases = [(n, [f"hostile/{n}"]) for n in cases_files]
    for worst in EIGHT_AT_ONCE:
        names = [f"hostile/{worst}"] + [f"hostile/{i}/{worst}" for i in range(1, 8)]
        cases.append((f"8x {worst}", names))
    out = []
    print(
        f"{'hostile image':42s} {'CPU s':>7s} {'wall s':>7s} {'+RSS MB':>8s} {'+heap MB':>8s} "
        f"{'goal':4s}  outcome [before]"
    )
    for label, names in cases:
        r = _child(["--extract", *names], env)
        r["case"] = label
        per_image_rss = r["rss_delta_mb"] / len(names)
        r["within_goal"] = r["cpu_s"] <= TARGET_CPU_S and per_image_rss <= TARGET_RSS_MB
        out.append(r)
        before = f"  [before: {BEFORE[label]}]" if label in BEFORE else ""
        print(
            f"{label:42s} {r['cpu_s']:7.3f} {r['wall_s']:7.3f} {r['rss_delta_mb']:8.1f} "
            f"{r['heap_peak_mb']:8.1f} {'ok' if r['within_goal'] else 'OVER':4s}  "
            f"{escape_text(r['outcome'], 64)}{before}"
        )
    over = [r["case"] for r in out if not r["within_goal"]]
    worst_cpu = max(out, key=lambda r: r["cpu_s"])
    worst_rss = max(out, key=lambda r: r["rss_delta_mb"])
    print(
        f"hostile: {len(out)} cases; goal {TARGET_CPU_S} s CPU and {TARGET_RSS_MB:.0f} MB per "
        f"image: {'all within' if not over else 'OVER: ' + ', '.join(over)}; worst CPU "
        f"{worst_cpu['cpu_s']:.3f} s ({worst_cpu['case']}), worst +RSS "
        f"{worst_rss['rss_delta_mb']:.1f} MB ({worst_rss['case']})"
    )
    return out


def bench_trigger(sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    for size in sizes:
        r = _child(["--trigger", str(size)], {})
        out.append(r)
        label = f"trigger {size // 1_000_000} MB .mp4"
        before = f"  [before, devhost: {BEFORE[label]}]" if label in BEFORE else ""
        print(
            f"{label:38s} InputStream datum: +{r['rss_delta_mb']:.0f} MB RSS, "
            f"{r['seconds']:.2f} s before 'Skipping'{before}"
        )
    return out


def bench_trigger_devhost(work: Path, sizes: list[int]) -> list[dict[str, Any]]:
    """The whole trigger path in devhost: a fresh Azurite + devhost, one big `.mp4` upload,
    devhost's process-tree RSS sampled until it logs "Skipping" (devhost downloads the blob
    for the InputStream, as the real host does)."""
    from bench.pipeline import RssSampler  # noqa: PLC0415
    from devhost.azurite import Azurite  # noqa: PLC0415
    from devhost.process import DevhostProcess  # noqa: PLC0415

    out = []
    for size in sizes:
        d = work / f"trigger-devhost-{size}"
        d.mkdir(parents=True, exist_ok=True)
        with Azurite(location=d / "azurite", log_path=d / "azurite.log") as azurite:
            cs = azurite.connection_string
            service = BlobServiceClient.from_connection_string(cs)
            container = service.get_container_client("images-input")
            container.create_container()
            log = d / "devhost.log"
            sql = f"Driver={{SQLite3}};Database={d / 'unused.db'}"
            host = DevhostProcess(
                app_dir=REPO_ROOT,
                storage_connection_string=cs,
                env={"SqlConnectionString": sql, "AzureWebJobsStorage": cs},
                log_path=log,
            ).start()
            try:
                assert host.process is not None
                time.sleep(2)
                with RssSampler(host.process.pid) as idle:
                    time.sleep(1)
                sparse = d / "movie.mp4"
                with sparse.open("wb") as f:
                    f.truncate(size)
                with RssSampler(host.process.pid) as busy:
                    with sparse.open("rb") as f:
                        container.upload_blob("movie.mp4", f, length=size, max_concurrency=4)
                    uploaded = time.monotonic()
                    while "Skipping" not in log.read_text(errors="replace"):
                        if time.monotonic() - uploaded > 600:
                            raise TimeoutError(host.log_tail())
                        time.sleep(0.2)
                    skipped = time.monotonic() - uploaded
                    time.sleep(0.5)
                sparse.unlink()
            finally:
                host.stop()
        r = {
            "bytes": size,
            "idle_rss_mb": idle.peak / MB,
            "peak_rss_mb": busy.peak / MB,
            "upload_to_skip_s": skipped,
        }
        out.append(r)
        print(
            f"devhost trigger {size // 1_000_000} MB .mp4: RSS {r['idle_rss_mb']:.0f} -> "
            f"{r['peak_rss_mb']:.0f} MB, upload done -> 'Skipping' {skipped:.1f} s"
        )
    return out


def bench_hostile_devhost(work: Path, copies: int = 8) -> dict[str, Any]:
    """The issue's "eight at once" through the pipeline: a fresh Azurite + SQLite + devhost,
    `copies` uploads of the 15 MB / 1.3 M-chunk PNG, devhost's RSS sampled until every
    instance is terminal (issue 12: 89-91 s each, host RSS 1.67 GB, all stored as rows)."""
    import pyodbc  # noqa: PLC0415

    from bench.pipeline import RssSampler, wait_all  # noqa: PLC0415
    from devhost.azurite import Azurite  # noqa: PLC0415
    from devhost.process import DevhostProcess  # noqa: PLC0415
    from imagemeta import db  # noqa: PLC0415
    from tests.security.hostile_files import png_private_chunks  # noqa: PLC0415

    d = work / "hostile-devhost"
    d.mkdir(parents=True, exist_ok=True)
    data = png_private_chunks()
    with Azurite(location=d / "azurite", log_path=d / "azurite.log") as azurite:
        cs = azurite.connection_string
        container = BlobServiceClient.from_connection_string(cs).get_container_client(
            "images-input"
        )
        container.create_container()
        sql = f"Driver={{SQLite3}};Database={d / 'pipeline.db'};Timeout=5000"
        db.migrate(sql)
        host = DevhostProcess(
            app_dir=REPO_ROOT,
            storage_connection_string=cs,
            env={"SqlConnectionString": sql, "AzureWebJobsStorage": cs},
            log_path=d / "devhost.log",
        ).start()
        try:
            assert host.process is not None
            with RssSampler(host.process.pid) as idle:
                time.sleep(1)
            with RssSampler(host.process.pid) as busy:
                etags = {}
                for i in range(copies):
                    name = f"hostile/{i}.png"
                    blob = container.get_blob_client(name)
                    etags[name] = blob.upload_blob(data, max_concurrency=4)["etag"]
                t0 = time.monotonic()
                done = wait_all(host, etags, 600)
                seconds = time.monotonic() - t0
        finally:
            host.stop()
    outcomes = sorted({str((i.get("output") or {}).get("status")) for i in done.values()})
    with pyodbc.connect(sql, autocommit=True) as conn:
        rows = int(conn.execute("SELECT COUNT(*) FROM ImageMetadata").fetchone()[0])
    r = {
        "copies": copies,
        "idle_rss_mb": idle.peak / MB,
        "peak_rss_mb": busy.peak / MB,
        "last_upload_to_all_terminal_s": seconds,
        "outcomes": outcomes,
        "rows": rows,
    }
    print(
        f"devhost, {copies}x png-1.3M-private-chunks.png: RSS {r['idle_rss_mb']:.0f} -> "
        f"{r['peak_rss_mb']:.0f} MB (incl. the trigger's InputStream of each 15.7 MB blob), "
        f"last upload -> all terminal {seconds:.1f} s, outcomes {outcomes}, rows {rows}  "
        f"[before: {BEFORE['8x png-1.3M-private-chunks.png']}, all stored]"
    )
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extract", nargs="+", help="(child) blob names to extract")
    parser.add_argument("--trigger", type=int, help="(child) blob size in bytes")
    args = parser.parse_args()
    result = _measure_extract(args.extract) if args.extract else _measure_trigger(args.trigger)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
