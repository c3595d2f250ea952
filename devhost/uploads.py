"""`python -m devhost upload`: files and folders to a container, several at a time.

What a user re-running the same command expects: a file whose content is already the blob's
(same Content-MD5) is not uploaded again, since an overwrite is a new blob version and fires the
trigger again (--force uploads it anyway); files with extensions the app does not take are left
out with one line saying so (--all sends them). A progress bar counts files and bytes, each
upload prints its ETag, and a summary line closes the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from devhost.azurite import client_kwargs

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadOptions:
    force: bool = False  # upload even when the blob already holds this content
    all_files: bool = False  # ignore `extensions`
    extensions: tuple[str, ...] | None = None  # lower-case, with the dot; None: every file
    threads: int = 8


@dataclass
class UploadSummary:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # other extensions
    bytes_uploaded: int = 0


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


def printable(text: str) -> str:
    """File names reach the terminal: escape anything it would act on or hide."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def content_md5(path: Path) -> bytes:
    digest = hashlib.md5()  # noqa: S324 - Content-MD5 is what Blob storage stores and compares
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def _same_content(container: ContainerClient, name: str, md5: bytes) -> bool:
    try:
        props = container.get_blob_client(name).get_blob_properties()
    except ResourceNotFoundError:
        return False
    stored = props.content_settings.content_md5
    return stored is not None and bytes(stored) == md5


def _put(container: ContainerClient, path: Path, name: str, force: bool) -> str | None:
    """Upload unless the blob already has this content; the new ETag, or None when skipped."""
    md5 = content_md5(path)
    if not force and _same_content(container, name, md5):
        return None
    settings = ContentSettings(
        content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        content_md5=bytearray(md5),  # stored as given: also for block uploads of big files
    )
    with path.open("rb") as fh:
        # BlobClient.upload_blob returns the response headers (ContainerClient's returns a
        # client): the ETag without a second request.
        result: dict[str, Any] = container.get_blob_client(name).upload_blob(
            fh, overwrite=True, content_settings=settings
        )
    return str(result["etag"])


def upload(
    connection_string: str,
    container_name: str,
    paths: list[str],
    prefix: str,
    options: UploadOptions | None = None,
) -> UploadSummary:
    options = options or UploadOptions()
    service = BlobServiceClient.from_connection_string(
        connection_string, **client_kwargs(connection_string)
    )
    container = service.get_container_client(container_name)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()  # private
    summary = UploadSummary()
    files = []
    for path, name in plan(paths, prefix):
        wanted = options.all_files or options.extensions is None
        if wanted or path.suffix.lower() in (options.extensions or ()):
            files.append((path, name))
        else:
            summary.skipped.append(name)
    console = Console(highlight=False)
    if summary.skipped:
        shown = ", ".join(printable(n) for n in summary.skipped[:5])
        more = f" and {len(summary.skipped) - 5} more" if len(summary.skipped) > 5 else ""
        exts = ",".join(options.extensions or ())
        console.print(
            f"skipped {len(summary.skipped)} file(s) not ending in {exts} ({shown}{more}); "
            "--all uploads them",
            markup=False,
            soft_wrap=True,
        )
    sizes = {path: path.stat().st_size for path, _ in files}
    total = sum(sizes.values())
    columns = (
        TextColumn("{task.fields[done]}/{task.fields[count]} files"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with (
        Progress(*columns, console=console) as progress,
        ThreadPoolExecutor(options.threads) as pool,
    ):
        task = progress.add_task("upload", total=total, done=0, count=len(files))
        futures = [
            (path, name, pool.submit(_put, container, path, name, options.force))
            for path, name in files
        ]
        for done, (path, name, fut) in enumerate(futures, start=1):
            etag = fut.result()
            shown_name = printable(f"{container_name}/{name}")
            if etag is None:
                summary.unchanged.append(name)
            else:
                summary.uploaded.append(name)
                summary.bytes_uploaded += sizes[path]
                progress.console.print(
                    f"uploaded {shown_name} ({sizes[path]:,} bytes, ETag {etag})",
                    markup=False,
                    soft_wrap=True,
                )
            progress.update(task, advance=sizes[path], done=done)
    elapsed = time.monotonic() - started
    parts = [
        f"{len(summary.uploaded)} file(s) uploaded ({summary.bytes_uploaded:,} bytes in "
        f"{elapsed:.1f} s)"
    ]
    if summary.unchanged:
        parts.append(
            f"{len(summary.unchanged)} unchanged (same Content-MD5 as the blob; --force "
            "uploads them again)"
        )
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped (other extensions)")
    console.print("; ".join(parts), markup=False, soft_wrap=True)
    return summary
