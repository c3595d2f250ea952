"""The blob versions to consider, listed page by page (bounded memory at any container size).

A listed blob becomes the reference the blob trigger would build for it: its properties are
put into the trigger's PascalCase shape and go through imagemeta.blobref.blobref_from_trigger,
so the instance id and the input are the trigger's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core.exceptions import AzureError
from azure.storage.blob.aio import ContainerClient, ExponentialRetry

from imagemeta.blobref import INPUT_CONTAINER, BlobRef, blobref_from_trigger, is_supported_name
from imagemeta.reprocess.config import ConfigError, Storage, Window

# The service allows 5,000 per call, but the SDK turns a whole page into objects at once
# (~50 MiB of transient at 5,000, twice while the count runs beside the work): 2,000 keeps a
# 100,000-blob run near 100 MiB. Smaller pages cost calls (Azurite scans its whole blob
# collection for each page it serves).
PAGE_SIZE = 2000
# The SDK's default back-off starts at 15 s: an unreachable account must be reported in seconds.
RETRY = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3)


@dataclass(frozen=True)
class Version:
    ref: BlobRef
    last_modified: datetime | None


@dataclass
class Page:
    versions: list[Version]
    listed: int  # blobs on the page, selected or not
    unsupported: int  # not .jpg/.jpeg/.png/.gif


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def trigger_properties(props: Any) -> dict[str, Any]:
    """The listing's properties under the names the Functions host gives a blob trigger."""
    settings = props.content_settings
    return {
        "ContentLength": props.size,
        "ContentType": settings.content_type if settings is not None else None,
        "ETag": props.etag,
        "LastModified": _iso(props.last_modified),
    }


def open_container(storage: Storage, credential: Any = None) -> ContainerClient:
    """The images-input container through the SDK, however the account is reached."""
    options: dict[str, Any] = {"retry_policy": RETRY}
    try:
        if storage.connection_string is not None:
            return ContainerClient.from_connection_string(
                storage.connection_string, INPUT_CONTAINER, **options
            )
        assert storage.account_url is not None
        url = storage.account_url
        return ContainerClient(url, INPUT_CONTAINER, credential=credential, **options)
    except ValueError as exc:
        raise ConfigError(f"storage connection string or account URL: {exc}") from exc


class Listing:
    def __init__(self, container: ContainerClient, window: Window):
        self.container = container
        self.window = window
        base = urlsplit(container.url)  # without any SAS: the input never carries a secret
        self._base = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/"), "", ""))

    def version(self, props: Any) -> Version:
        name = str(props.name)
        uri = f"{self._base}/{quote(name, safe='~/')}"
        ref = blobref_from_trigger(
            f"{INPUT_CONTAINER}/{name}", uri, props.size, trigger_properties(props)
        )
        return Version(ref, props.last_modified)

    async def pages(self) -> AsyncIterator[Page]:
        blobs = self.container.list_blobs(
            name_starts_with=self.window.prefix or None, results_per_page=PAGE_SIZE
        )
        async for raw in blobs.by_page():
            page = Page([], 0, 0)
            async for props in raw:
                page.listed += 1
                if not is_supported_name(str(props.name)):
                    page.unsupported += 1
                elif self.window.contains(props.last_modified):
                    page.versions.append(self.version(props))
            yield page

    async def count(self) -> int:
        """How many versions `pages` will yield: names only (cheaper to list) unless a time
        window needs each blob's Last-Modified."""
        n = 0
        if self.window.since is not None or self.window.until is not None:
            async for page in self.pages():
                n += len(page.versions)
            return n
        names = self.container.list_blob_names(
            name_starts_with=self.window.prefix or None, results_per_page=PAGE_SIZE
        )
        async for name in names:
            n += is_supported_name(name)
        return n

    async def current(self, name: str) -> Version | None:
        """The blob's current version (None if it is gone), for --failed."""
        try:
            props = await self.container.get_blob_client(name).get_blob_properties()
        except AzureError as exc:
            if getattr(exc, "status_code", None) == 404:
                return None
            raise
        props.name = name
        return self.version(props)
