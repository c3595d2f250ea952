"""`python -m devhost ...`: start (like `func start`), status, upload, restart-failed.

Secrets never on the command line (devhost/secretargs.py): the key comes from $DEVHOST_KEY or
`--key-file`, the storage connection string from AzureWebJobsStorage (environment or
local.settings.json) or `--storage-connection-string-file`; `--key VALUE` and a
`--storage-connection-string` holding a key are refused with one line (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import urllib.error
from pathlib import Path

from devhost.config import ConfigError
from devhost.monitor.appview import AppView, AppViewError, app_view_from_settings
from devhost.secretargs import key_options, resolve_secrets
from devhost.startup import STORAGE_WAIT, StartupError
from devhost.textsafe import SafeFormatter

VIEW_HELP = (
    "plug-in module naming the app's outcomes and subjects (default: DEVHOST_APP_VIEW in "
    "local.settings.json; see devhost/monitor/appview.py)"
)


def _setup_logging(verbose: bool) -> None:
    """Every line escaped (devhost/textsafe.py): blob names and reasons come from outside."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(SafeFormatter("[%(asctime)s] %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("azure", "aiohttp.access", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_start(args: argparse.Namespace) -> int:
    from devhost.config import load_config  # noqa: PLC0415
    from devhost.extensions import check_extensions  # noqa: PLC0415
    from devhost.loader import check_function_files  # noqa: PLC0415

    app_dir = Path(args.app_dir).resolve()
    # The configuration first (host.json, local.settings.json, every function.json): its
    # mistakes are one line at once, before the host's imports and before Azurite starts.
    config = load_config(app_dir, args.storage_connection_string)
    check_function_files(app_dir)
    check_extensions(app_dir, config.host_json)  # what Azure loads without a bundle
    from devhost.host import Host, HostOptions  # noqa: PLC0415

    _setup_logging(args.verbose)
    with contextlib.ExitStack() as stack:
        if args.with_azurite:
            from devhost.azurite import local_azurite  # noqa: PLC0415

            stack.enter_context(local_azurite(app_dir))
        try:
            host = Host(
                HostOptions(
                    app_dir=app_dir,
                    host=args.host,
                    port=args.port,
                    storage_connection_string=args.storage_connection_string,
                    concurrency=args.concurrency,
                    poll_interval=args.poll_interval,
                    workers=getattr(args, "workers", 0),  # None: from the process count
                    storage_wait=getattr(args, "storage_wait", STORAGE_WAIT),
                    key=getattr(args, "key", None),
                    rpc_port=args.rpc_port,
                    allowed_hosts=tuple(getattr(args, "allow_host", ())),
                    retain_completed=getattr(args, "retain_completed", None),
                )
            )
        except (ConfigError, StartupError) as exc:
            print(f"devhost: {exc}", file=sys.stderr)
            return 2

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await (host.run_worker(stop) if args.command == "worker" else host.run(stop))

        try:
            asyncio.run(main())
        except StartupError as exc:
            print(f"devhost: {exc}", file=sys.stderr)
            return 2
    from devhost.invoker import exit_if_invocations_run_on  # noqa: PLC0415

    exit_if_invocations_run_on()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from devhost.config import load_config  # noqa: PLC0415
    from devhost.startup import wait_for_storage  # noqa: PLC0415

    config = load_config(Path(args.app_dir).resolve(), args.storage_connection_string)
    try:
        view = app_view(args, config.settings)
        asyncio.run(wait_for_storage(config.settings["AzureWebJobsStorage"], timeout=0))
    except (StartupError, AppViewError) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    from devhost.monitor.console import print_status  # noqa: PLC0415

    return asyncio.run(
        print_status(
            config.settings["AzureWebJobsStorage"],
            config.hub_name,
            args.instance,
            args.top,
            status=args.status,
            outcome=args.outcome,
            watch=args.watch,
            interval=args.interval,
            view=view,
            host_id=config.host_id,
        )
    )


def app_view(args: argparse.Namespace, settings: dict[str, str] | None = None) -> AppView:
    """`--app-view`, else DEVHOST_APP_VIEW from local.settings.json (devhost.monitor.appview)."""
    if settings is None:
        from devhost.config import read_local_settings  # noqa: PLC0415

        settings = read_local_settings(Path(getattr(args, "app_dir", ".")).resolve())
    return app_view_from_settings(settings, getattr(args, "app_view", None))


def cmd_upload(args: argparse.Namespace) -> int:
    from devhost.config import load_config  # noqa: PLC0415
    from devhost.startup import wait_for_storage  # noqa: PLC0415

    app_dir = Path(args.app_dir).resolve()
    name = args.container or _trigger_container(app_dir)
    if name is None:
        print(
            "devhost: no single blobTrigger container in the app: pass --container", file=sys.stderr
        )
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"devhost: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    config = load_config(app_dir, args.storage_connection_string)
    storage = config.settings.get("AzureWebJobsStorage")
    if not storage:
        print("devhost: AzureWebJobsStorage is not set (local.settings.json or "
              "--storage-connection-string)", file=sys.stderr)  # fmt: skip
        return 2
    # One request with the SDK's retries off: storage that is down is one line at once, not
    # the SDK's minute of retries and a ServiceRequestError traceback.
    asyncio.run(wait_for_storage(storage, timeout=0, services=("blob",)))
    from azure.core.exceptions import AzureError  # noqa: PLC0415

    from devhost.uploads import UploadOptions, upload  # noqa: PLC0415

    options = UploadOptions(
        force=args.force,
        all_files=args.all,
        extensions=_extensions(args.extensions, config.settings),
    )
    try:
        upload(storage, name, args.paths, args.prefix, options)
    except AzureError as exc:  # storage went away mid-upload, or refused a request
        print(f"devhost: upload to {name} failed: {_first_line(exc)}", file=sys.stderr)
        return 2
    return 0


UPLOAD_EXTENSIONS = "DEVHOST_UPLOAD_EXTENSIONS"


def _extensions(given: str | None, settings: dict[str, str]) -> tuple[str, ...] | None:
    """The extensions `upload` sends without --all: --extensions, else the app's
    DEVHOST_UPLOAD_EXTENSIONS setting (local.settings.json Values); None uploads everything."""
    text = given if given is not None else settings.get(UPLOAD_EXTENSIONS, "")
    found = [e.strip().lower() for e in text.split(",") if e.strip()]
    return tuple(e if e.startswith(".") else f".{e}" for e in found) or None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _trigger_container(app_dir: Path) -> str | None:
    """The container the app's blobTrigger functions watch, when there is exactly one: the
    path's first segment (devhost.blobtrigger validates it at start; importing that package
    here would load the storage SDKs before a configuration error can be reported)."""
    found: set[str] = set()
    for conf in app_dir.glob("*/function.json"):
        with contextlib.suppress(ValueError, AttributeError):
            for b in json.loads(conf.read_text(encoding="utf-8-sig")).get("bindings", []):
                if b.get("type") == "blobTrigger":
                    found.add(str(b.get("path", "")).strip("/").split("/", 1)[0])
    return found.pop() if len(found) == 1 else None


def cmd_restart_failed(args: argparse.Namespace) -> int:
    from devhost.recovery import restart_failed  # noqa: PLC0415

    url = args.url.rstrip("/")
    try:
        view = app_view(args)
        restarted = restart_failed(
            url, args.function, dry_run=args.dry_run, key=args.key, view=view
        )
    except AppViewError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    except urllib.error.HTTPError as exc:
        print(f"devhost: {url} answered HTTP {exc.code} {exc.reason}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # refused, unreachable, timed out; not JSON
        reason = getattr(exc, "reason", None) or exc
        print(f"devhost: no Durable HTTP API at {url} ({_first_line(reason)}); is devhost "
              "running? (make start)", file=sys.stderr)  # fmt: skip
        return 2
    verb = "would restart" if args.dry_run else "restarted"
    if restarted:
        from devhost.monitor.console import restarted_table, terminal  # noqa: PLC0415

        console = terminal()
        console.print(restarted_table(restarted, verb, view.subject_label, console.width))
    print(f"{verb} {len(restarted)} failed orchestration{'s' if len(restarted) != 1 else ''}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from devhost.monitor.__main__ import run  # noqa: PLC0415

    return run(args)


def _add_restart_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("restart-failed", help="start Failed orchestrations again (same id/input)")
    p.add_argument("--url", default="http://127.0.0.1:7071", help="devhost base URL")
    key_options(p)
    p.add_argument("--function", help="only this orchestrator")
    p.add_argument("--dry-run", action="store_true", help="list what would be restarted")
    p.add_argument("--app-dir", default=".", help="Functions app root (local.settings.json)")
    p.add_argument("--app-view", help=VIEW_HELP)
    p.set_defaults(run=cmd_restart_failed)


def _add_monitor_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], full: bool
) -> None:
    p = sub.add_parser("monitor", help="the monitor page against a deployed app's HTTP API")
    if full:  # its options need the monitor's modules (1-2 s of imports): only for `monitor`
        from devhost.monitor.__main__ import add_arguments  # noqa: PLC0415

        add_arguments(p)
    p.set_defaults(run=cmd_monitor)


def _listener_opts(p: argparse.ArgumentParser) -> None:
    """`start`: the key and the listeners (devhost/guard.py)."""
    p.add_argument("--key", help=argparse.SUPPRESS)  # refused: argv is public
    p.add_argument(
        "--key-file",
        metavar="FILE",
        help="file (mode 600) holding the key required as ?code= or x-functions-key on the "
        "Durable webhooks, admin routes and non-anonymous httpTrigger functions (default: "
        "$DEVHOST_KEY); needed to listen on a non-loopback address",
    )
    p.add_argument(
        "--rpc-port",
        type=int,
        help="port of the loopback-only Durable RPC endpoint (default: 17071, else a random "
        "free one, as the Durable extension picks it)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients may use besides localhost and IP addresses (repeatable; "
        "also $DEVHOST_ALLOWED_HOSTS)",
    )


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    # `worker` is internal (spawned by `start --workers N`): left out of the choices shown.
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{start,status,upload,restart-failed,monitor}"
    )

    def app_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--app-dir", default=".", help="Functions app root (host.json)")
        p.add_argument(
            "--storage-connection-string",
            help="overrides AzureWebJobsStorage, if it holds no key (UseDevelopmentStorage=true);"
            " a key goes in AzureWebJobsStorage (environment, local.settings.json) or a file",
        )
        p.add_argument(
            "--storage-connection-string-file",
            metavar="FILE",
            help="file (mode 600) holding the storage connection string",
        )

    p = sub.add_parser("start", help="run the app like `func start`")
    app_opts(p)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(os.environ.get("DEVHOST_PORT", "7071")))
    p.add_argument(
        "--concurrency",
        type=int,
        default=max(4, (os.cpu_count() or 2) * 4),
        help="max concurrent activity and blob-trigger invocations (the thread pool is sized "
        "as the Python worker sizes it: PYTHON_THREADPOOL_THREAD_COUNT)",
    )
    p.add_argument("--poll-interval", type=float, default=1.0,
                   help="max seconds between queue polls / container scans when idle")  # fmt: skip
    p.add_argument("--with-azurite", action="store_true",
                   help="start Azurite (ports 10000-10002, ./data/azurite) if needed")  # fmt: skip
    p.add_argument(
        "--workers",
        type=int,
        default=os.environ.get("DEVHOST_WORKERS"),
        help="extra processes that run activities (default: FUNCTIONS_WORKER_PROCESS_COUNT - 1)",
    )
    _listener_opts(p)
    p.add_argument("--storage-wait", type=float, default=STORAGE_WAIT,
                   help="seconds to wait for storage at start before giving up")  # fmt: skip
    p.add_argument(
        "--retain-completed",
        metavar="DURATION",
        help="purge Completed/Failed/Terminated instances created longer ago (7d, 12h, 30m, off;"
        " default: the DEVHOST_RETAIN_COMPLETED setting, else off: Azure keeps them)",
    )
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(run=cmd_start)

    p = sub.add_parser("worker")  # no help=: argparse would list it as "==SUPPRESS=="
    app_opts(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7071, help="the main host's port")
    p.add_argument("--rpc-port", type=int, required=True, help="the main host's RPC port")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--with-azurite", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_start)

    p = sub.add_parser("status", help="instances in the task hub, or one instance's history")
    app_opts(p)
    p.add_argument("instance", nargs="?")
    p.add_argument("--top", type=int, default=50)
    p.add_argument("--status", help="only these runtime statuses (comma list: Failed,Running)")
    p.add_argument("--outcome", help="only these outcomes (comma list, the app view's words)")
    p.add_argument("--app-view", help=VIEW_HELP)
    p.add_argument("--watch", action="store_true", help="follow the backlog: done/total, ETA")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between --watch polls")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("upload", help="upload files or folders to a container")
    app_opts(p)
    p.add_argument("paths", nargs="+")
    p.add_argument("--container", help="default: the app's blobTrigger container")
    p.add_argument("--prefix", default="", help="virtual folder inside the container")
    p.add_argument(
        "--force", action="store_true", help="upload files whose content is already there too"
    )
    p.add_argument("--all", action="store_true", help="upload every file, whatever its extension")
    p.add_argument(
        "--extensions",
        help=f"comma list of extensions to upload (default: the app's {UPLOAD_EXTENSIONS} "
        "setting; without it, every file)",
    )
    p.set_defaults(run=cmd_upload)

    _add_restart_parser(sub)
    _add_monitor_parser(sub, "monitor" in (sys.argv[1:] if argv is None else argv))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        resolve_secrets(args)
        return int(args.run(args))
    except (ConfigError, StartupError) as exc:  # bad host.json / settings, storage down, argv
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
