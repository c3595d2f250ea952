"""Command line: python -m imagemeta.reprocess [--missing | --all | --failed] [--dry-run] ...

Local (default): the devhost on 127.0.0.1:$DEVHOST_PORT (7071) and the storage account and
database of local.settings.json. Deployed: `--url https://<app>.azurewebsites.net`, the
durabletask_extension system key in $DURABLETASK_KEY or `--key-file`, and the storage account
by `--account-url` (signed-in identity through azure-identity, or $AZURE_STORAGE_KEY) or
$AZURE_STORAGE_CONNECTION_STRING; $SqlConnectionString when the database is reachable.
Exit codes: 0 all done, 1 something failed, 2 bad configuration or unreachable service,
130 interrupted (run it again to continue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
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

from imagemeta.blobref import INPUT_CONTAINER, MAX_NAME_LENGTH
from imagemeta.reprocess.api import ApiError, DurableApi
from imagemeta.reprocess.config import ConfigError, Storage, Target, parse_time, resolve
from imagemeta.reprocess.listing import Listing, Window, open_container
from imagemeta.reprocess.report import Display
from imagemeta.reprocess.runner import Mode, Options, Reprocess
from imagemeta.reprocess.stored import RowIndex, SqlUnavailable
from imagemeta.reprocess.tally import first_line

DEFAULT_IN_FLIGHT = 32
EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m imagemeta.reprocess",
        description="Start OrchestratorFunction for the blob versions of images-input that "
        "need it, with the blob trigger's instance id and input.",
    )
    mode = p.add_mutually_exclusive_group()
    for flag, help_text in (
        ("missing", "versions without an ImageMetadata row (default)"),
        ("all", "every version again (rows stay single: the INSERT is idempotent)"),
        ("failed", "versions whose orchestration failed (restarted under the same id)"),
    ):
        mode.add_argument(
            f"--{flag}", dest="mode", action="store_const", const=flag, help=help_text
        )
    p.set_defaults(mode="missing")
    p.add_argument("--dry-run", action="store_true", help="count and name them; start nothing")
    p.add_argument("--prefix", default="", help="only blob names starting with this")
    p.add_argument("--modified-since", help="only blobs last modified at or after (ISO 8601)")
    p.add_argument("--until", help="only blobs last modified before (ISO 8601)")
    p.add_argument("--max-in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    p.add_argument("--url", help="deployed app, e.g. https://<app>.azurewebsites.net")
    p.add_argument("--key-file", help="file holding the durabletask_extension system key")
    p.add_argument("--account-url", help="https://<account>.blob.core.windows.net")
    p.add_argument("--no-sql", action="store_true", help="compare by instance state only")
    return p


def _settings(args: argparse.Namespace) -> tuple[Target, Window, Options]:
    target = resolve(
        url=args.url, key_file=args.key_file, account_url=args.account_url, use_sql=not args.no_sql
    )
    since = parse_time(args.modified_since, "--modified-since") if args.modified_since else None
    until = parse_time(args.until, "--until") if args.until else None
    if since and until and since >= until:
        raise ConfigError("--modified-since must be before --until")
    if len(args.prefix) > MAX_NAME_LENGTH:
        raise ConfigError(f"--prefix is longer than {MAX_NAME_LENGTH} characters")
    if not 1 <= args.max_in_flight <= 1000:
        raise ConfigError("--max-in-flight must be between 1 and 1000")
    options = Options(Mode(args.mode), args.dry_run, args.max_in_flight)
    return target, Window(args.prefix, since, until), options


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
        if self.target.sql is None or self.options.mode is Mode.FAILED:
            if self.options.mode is Mode.MISSING:
                note("no SqlConnectionString: comparing by instance state")
            return None
        try:
            return RowIndex(self.target.sql)
        except SqlUnavailable as exc:
            note(f"database not readable ({exc}): comparing by instance state")
            return None


def note(text: str) -> None:
    print(f"reprocess: {text}", file=sys.stderr)


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = Run(*_settings(args))
    except ConfigError as exc:
        note(str(exc))
        return EXIT_CONFIG
    code = 0
    try:
        asyncio.run(run.main())
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BaseException as raw:  # every expected failure becomes one line
        cause = _unwrap(raw)
        if isinstance(cause, KeyboardInterrupt | asyncio.CancelledError):
            code = EXIT_INTERRUPTED
        elif isinstance(cause, ConfigError | ApiError | AzureError | OSError):
            note(first_line(str(cause)))
            code = EXIT_CONFIG
        else:
            raise
    engine = run.engine
    if engine is None:
        return code or EXIT_CONFIG
    tally = engine.tally
    print("\n".join(tally.summary(interrupted=code == EXIT_INTERRUPTED)))
    print(json.dumps(tally.as_json()))
    if code:
        return code
    return EXIT_FAILED if tally.failed else 0
