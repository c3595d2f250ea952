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
import json

from imagemeta.blobref import MAX_NAME_LENGTH
from imagemeta.reprocess.config import (
    ConfigError,
    Mode,
    Options,
    Target,
    Window,
    parse_time,
    resolve,
)
from imagemeta.reprocess.tally import first_line, note

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


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        note(str(exc))
        return EXIT_CONFIG
    # The SDKs load in ~1 s: bad options are reported before that.
    from azure.core.exceptions import AzureError  # noqa: PLC0415

    from imagemeta.reprocess.api import ApiError  # noqa: PLC0415
    from imagemeta.reprocess.session import Run  # noqa: PLC0415

    run = Run(*settings)
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
