"""`python -m scripts.demo` (`make demo`): the README's main job, end to end on the defaults.

Starts Azurite (persistent under data/azurite), applies the SQL migration on the SQLite ODBC
default, runs devhost on the app, uploads samples/ to `images-input`, waits until every upload's
orchestration is terminal, then prints the ImageMetadata rows and the rejected files with reasons.
Samples whose bytes are already in the container are not re-uploaded (an overwrite would be a new
blob version and, rightly, a new row), so running the demo twice shows the same rows.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from devhost.azurite import local_azurite
from devhost.config import ConfigError, load_config
from devhost.process import DevhostProcess
from imagemeta import db  # the app's own library: migration and row listing

if TYPE_CHECKING:  # the storage SDK is imported once the configuration is known to be sound
    from azure.storage.blob import BlobServiceClient

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif"}
CONTAINER = "images-input"


@dataclass(frozen=True)
class Upload:
    blob_name: str
    etag: str


def _upload_samples(service: BlobServiceClient, samples: Path) -> list[Upload]:
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError  # noqa: PLC0415
    from azure.storage.blob import ContentSettings  # noqa: PLC0415

    container = service.get_container_client(CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()  # private: no public_access
    uploads: list[Upload] = []
    for path in sorted(p for p in samples.rglob("*") if p.is_file()):
        if path.name == "README.md":
            continue
        name = path.relative_to(samples).as_posix()
        data = path.read_bytes()
        md5 = hashlib.md5(data).digest()  # noqa: S324 - Content-MD5 is what the service stores
        blob = container.get_blob_client(name)
        try:
            props = blob.get_blob_properties()
            if (
                props.content_settings.content_md5
                and bytes(props.content_settings.content_md5) == md5
            ):
                print(f"demo: {name}: unchanged, already uploaded")
                uploads.append(Upload(name, props.etag))
                continue
        except ResourceNotFoundError:
            pass
        result = blob.upload_blob(
            data, overwrite=True, content_settings=ContentSettings(content_md5=bytearray(md5))
        )
        print(f"demo: uploaded {name} ({len(data):,} bytes)")
        uploads.append(Upload(name, result["etag"]))
    return uploads


def _instance_key(instance: dict[str, Any]) -> tuple[str, str] | None:
    ref = instance.get("input")
    if isinstance(ref, str):
        with contextlib.suppress(ValueError):
            ref = json.loads(ref)
    if isinstance(ref, dict) and "name" in ref and "etag" in ref:
        return str(ref["name"]), str(ref["etag"])
    return None


HEARTBEAT = 3.0  # seconds: a first run on a loaded machine must never look hung


class LastWrite:
    """stdout that remembers when anything last went out through it: the demo's own lines and
    devhost's, which DevhostProcess relays through sys.stdout."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.at = time.monotonic()

    def write(self, text: str) -> int:
        self.at = time.monotonic()
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def heartbeat(doing: str, every: float = HEARTBEAT) -> Iterator[None]:
    """Print "still <doing> (N s)" whenever nothing was printed for `every` seconds until the
    block ends: starting Azurite and devhost from a fresh .venv (first imports compile
    bytecode) can take several seconds on a loaded machine."""
    installed = not isinstance(sys.stdout, LastWrite)
    out = LastWrite(sys.stdout) if installed else cast(LastWrite, sys.stdout)
    sys.stdout = cast(TextIO, out)
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(min(0.25, every / 4)):
            if time.monotonic() - out.at >= every:
                print(f"demo: still {doing} ({time.monotonic() - started:.0f} s)", flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if installed:
            sys.stdout = out.stream


def _wait_for(
    host: DevhostProcess, uploads: list[Upload], timeout: float
) -> dict[Upload, dict[str, Any]]:
    from devhost.durabletask.model.status import TERMINAL  # noqa: PLC0415

    wanted = {(u.blob_name, u.etag): u for u in uploads}
    deadline = time.monotonic() + timeout
    reported = -1
    while True:
        done: dict[Upload, dict[str, Any]] = {}
        for inst in host.list_instances():
            key = _instance_key(inst)
            if key in wanted and inst.get("runtimeStatus") in TERMINAL:
                done[wanted[key]] = inst
        if len(done) != reported:
            reported = len(done)
            print(f"demo: {reported}/{len(wanted)} orchestrations finished", flush=True)
        if len(done) == len(wanted):
            return done
        if time.monotonic() > deadline:
            missing = sorted(u.blob_name for u in uploads if u not in done)
            raise TimeoutError(f"orchestrations not finished after {timeout:.0f} s: {missing}")
        time.sleep(0.5)


def run_demo(app_dir: Path, timeout: float = 180.0) -> int:
    app_dir = app_dir.resolve()
    os.chdir(app_dir)
    (app_dir / "data").mkdir(exist_ok=True)
    load_config(app_dir)  # local.settings.json Values -> environment, like `start`
    sql = os.environ.get("SqlConnectionString") or db.default_connection_string(app_dir)
    # The database first: a wrong driver or path is reported before anything is started.
    print("demo: applying the SQL migration", flush=True)
    db.migrate(sql)
    with contextlib.ExitStack() as stack:
        with heartbeat("starting Azurite"):
            stack.enter_context(local_azurite(app_dir))
        host = DevhostProcess(
            app_dir=app_dir,
            storage_connection_string=os.environ["AzureWebJobsStorage"],
            stream_prefix="  [devhost] ",
        )
        try:
            with heartbeat("starting devhost"):
                host.start()
        except (RuntimeError, TimeoutError) as e:
            raise DemoError(f"devhost failed to start ({e}); its own lines are above") from e
        try:
            from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

            service = BlobServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"])
            uploads = _upload_samples(service, app_dir / "samples")
            images = [u for u in uploads if Path(u.blob_name).suffix.lower() in IMAGE_EXTENSIONS]
            skipped = [u.blob_name for u in uploads if u not in images]
            print(f"demo: waiting for {len(images)} orchestrations "
                  f"(watch them at {host.monitor_url})")  # fmt: skip
            with heartbeat("waiting for the orchestrations"):
                results = _wait_for(host, images, timeout)
        finally:
            host.stop()
    print()
    print("ImageMetadata rows:")
    db.print_rows(sql)
    print()
    rejected = [
        (u.blob_name, (inst.get("output") or {}).get("reason"))
        for u, inst in sorted(results.items(), key=lambda kv: kv[0].blob_name)
        if isinstance(inst.get("output"), dict) and inst["output"].get("status") == "rejected"
    ]
    failed = [
        u.blob_name for u, inst in results.items() if inst.get("runtimeStatus") != "Completed"
    ]
    print(f"Rejected files ({len(rejected)}):")
    for name, reason in rejected:
        print(f"  {db.printable(name)}: {reason}")
    if skipped:
        print(f"Skipped by the trigger, not an image extension ({len(skipped)}):")
        for name in skipped:
            print(f"  {db.printable(name)}")
    if failed:
        print(f"Failed orchestrations: {', '.join(sorted(failed))}")
        return 1
    return 0


class DemoError(Exception):
    """Something the user has to fix before the demo can run; the message is one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument("--app-dir", default=".", help="Functions app root (host.json)")
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows through `| tee` too
    sys.stdout = cast(TextIO, LastWrite(sys.stdout))  # heartbeat() measures silence across steps
    try:
        return run_demo(Path(args.app_dir))
    except (ConfigError, db.DatabaseError, DemoError, OSError, TimeoutError) as exc:
        # Bad configuration, a database that cannot be opened, Azurite missing or not
        # starting, devhost refusing to start: one line (exit 2), as devhost itself reports.
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            raise
        print(f"demo: {exc.code}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
