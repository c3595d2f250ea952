"""`python -m devhost upload`: files and folders to a container, several at a time, with a
progress bar (files and bytes) and one line per file naming its ETag."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def plan(paths: list[str], prefix: str) -> list[tuple[Path, str]]:
    """(local file, blob name) for every file under the given files and folders."""
    out: list[tuple[Path, str]] = []
    for given in paths:
        root = Path(given)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
            out.append((path, f"{prefix.strip('/')}/{rel}" if prefix else rel))
    return out


def _put(container: ContainerClient, path: Path, name: str) -> str:
    with path.open("rb") as fh:
        # BlobClient.upload_blob returns the response headers (ContainerClient's returns a
        # client): the ETag without a second request.
        return str(container.get_blob_client(name).upload_blob(fh, overwrite=True)["etag"])


def upload(
    connection_string: str, container_name: str, paths: list[str], prefix: str, threads: int = 8
) -> int:
    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client(container_name)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()  # private
    files = plan(paths, prefix)
    total = sum(p.stat().st_size for p, _ in files)
    console = Console()
    columns = (TextColumn("uploading"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())  # fmt: skip
    started = time.monotonic()
    with Progress(*columns, console=console) as progress, ThreadPoolExecutor(threads) as pool:
        files_task = progress.add_task("files", total=len(files))
        bytes_task = progress.add_task("bytes", total=total, visible=False)
        futures = [(path, name, pool.submit(_put, container, path, name)) for path, name in files]
        for path, name, fut in futures:
            etag = fut.result()
            size = path.stat().st_size
            progress.console.print(
                f"uploaded {container_name}/{name} ({size} bytes, ETag {etag})",
                markup=False,
                highlight=False,
            )
            progress.advance(files_task)
            progress.advance(bytes_task, size)
    elapsed = time.monotonic() - started
    console.print(f"{len(files)} file(s) uploaded ({total:,} bytes in {elapsed:.1f} s)",
                  markup=False, highlight=False)  # fmt: skip
    return len(files)
