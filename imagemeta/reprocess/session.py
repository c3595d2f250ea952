"""One run against a target: open the clients, check each service once, then run the engine."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)

from imagemeta.blobref import INPUT_CONTAINER
from imagemeta.reprocess.api import DurableApi
from imagemeta.reprocess.config import ConfigError, Mode, Options, Storage, Target, Window
from imagemeta.reprocess.listing import Listing, open_container
from imagemeta.reprocess.report import Display
from imagemeta.reprocess.runner import Reprocess
from imagemeta.reprocess.stored import RowIndex, SqlUnavailable
from imagemeta.reprocess.tally import first_line, note

# The SDKs log multi-line warnings (azure-identity lists every credential it tried); this tool
# reports each problem in one line of its own instead.
logging.getLogger("azure").addHandler(logging.NullHandler())


def _account_name(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("127.0.0.1", "localhost") or host.replace(".", "").isdigit():
        return parts.path.strip("/").split("/")[0]  # emulator: http://127.0.0.1:10000/<account>
    return host.split(".")[0]


@contextlib.asynccontextmanager
async def _credential(storage: Storage) -> AsyncIterator[Any]:
    if storage.connection_string is not None:
        yield None
    elif storage.account_key is not None:
        assert storage.account_url is not None
        yield AzureNamedKeyCredential(_account_name(storage.account_url), storage.account_key)
    else:
        from azure.identity.aio import DefaultAzureCredential  # noqa: PLC0415 - operator only

        async with DefaultAzureCredential() as credential:
            yield credential


def storage_problem(exc: AzureError, where: str) -> str:
    if isinstance(exc, ResourceNotFoundError):
        return f"container {INPUT_CONTAINER} does not exist in {where}"
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        return (
            f"no Azure identity for {where}: sign in (az login) or set AZURE_STORAGE_KEY "
            f"({first_line(str(exc))[:200]})"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code == 403:
        return (
            f"storage account {where} refused to list {INPUT_CONTAINER} (403): the identity "
            "needs the Storage Blob Data Reader role on it"
        )
    return f"cannot list {INPUT_CONTAINER} in {where}: {first_line(str(exc))[:300]}"


class Run:
    """One run; keeps its engine so an interrupted run can still print what it did."""

    def __init__(self, target: Target, window: Window, options: Options):
        self.target, self.window, self.options = target, window, options
        self.engine: Reprocess | None = None

    async def main(self) -> None:
        loopback = urlsplit(self.target.api_url).hostname in ("127.0.0.1", "localhost")
        timeout = aiohttp.ClientTimeout(total=60, sock_connect=10)
        async with (
            aiohttp.ClientSession(timeout=timeout, trust_env=not loopback) as session,
            _credential(self.target.storage) as credential,
            open_container(self.target.storage, credential) as container,
        ):
            api = DurableApi(self.target.api_url, self.target.key, session)
            await api.probe()
            where = self.target.storage.account_url or urlsplit(container.url).netloc
            try:
                await container.get_container_properties(retry_total=0)
            except AzureError as exc:
                raise ConfigError(storage_problem(exc, where)) from exc
            rows = self._rows()
            try:
                with Display() as display:
                    listing = Listing(container, self.window)
                    self.engine = Reprocess(api, listing, rows, self.options, display)
                    await self.engine.run()
            finally:
                if rows is not None:
                    rows.close()

    def _rows(self) -> RowIndex | None:
        if self.target.sql is None or self.options.mode is not Mode.MISSING:
            if self.options.mode is Mode.MISSING:
                note("no database (--no-sql or no SqlConnectionString): comparing instances")
            return None
        try:
            return RowIndex(self.target.sql)
        except SqlUnavailable as exc:
            note(f"database not readable ({exc}): comparing by instance state")
            return None
