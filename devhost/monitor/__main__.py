"""`DURABLE_SYSTEM_KEY=... python -m devhost.monitor --url https://<app>.azurewebsites.net`: the
monitor page against a deployed app (its Durable HTTP API; `--sql` adds the app view's rows).

With `--storage` (and `--hub`) it reads the task hub's Instances table directly, as the monitor
inside devhost does.

The monitor holds the app's system key, so it listens on loopback only, asks its callers for
the per-run token it prints at start (devhost/guard.py), and takes the key from
$DURABLE_SYSTEM_KEY or a mode-600 `--key-file`, never from its command line.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from devhost.config import ConfigError, load_config, read_local_settings
from devhost.guard import GuardedServer, MonitorToken, Policy, configured_hosts
from devhost.monitor.api import DurableApi
from devhost.monitor.appview import app_view_from_settings
from devhost.monitor.routes import add_monitor_routes
from devhost.monitor.sources import ApiSource, LocalSource, RemoteSource
from devhost.secretargs import holds_credential, refuse_on_argv, secret_from
from devhost.startup import StartupError

KEY_ENV = "DURABLE_SYSTEM_KEY"
SQL_ENV = "DEVHOST_MONITOR_SQL"
STORAGE_ENV = "DEVHOST_MONITOR_STORAGE"


def build_parser(prog: str = "python -m devhost.monitor") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="the app's base URL (https://<app>...)")
    p.add_argument("--key", help=argparse.SUPPRESS)  # refused: argv is public
    p.add_argument(
        "--key-file",
        help=f"file (mode 600) holding the app's durabletask_extension system key "
        f"(default: ${KEY_ENV})",
    )
    p.add_argument(
        "--sql",
        help=f"connection string for the app view's rows, without a password (or ${SQL_ENV})",
    )
    p.add_argument("--sql-file", help="file (mode 600) holding that connection string")
    p.add_argument(
        "--app-view",
        help="plug-in module with the app's outcome words (default: DEVHOST_APP_VIEW in "
        "./local.settings.json; devhost/monitor/appview.py)",
    )
    p.add_argument(
        "--storage",
        help=f"storage connection string without a key, e.g. UseDevelopmentStorage=true (or "
        f"${STORAGE_ENV}): read the Instances table",
    )
    p.add_argument("--storage-file", help="file (mode 600) holding the storage connection string")
    p.add_argument(
        "--hub", help="task hub name (with --storage; default: ./host.json's, as devhost reads it)"
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    p.add_argument("--port", type=int, default=7072)
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the page may be reached by besides localhost/127.0.0.1",
    )
    p.add_argument("--refresh", type=float, default=2.0, help="min seconds between polls")


def resolve_secrets(args: argparse.Namespace) -> None:
    """Keys and credential-bearing connection strings from files or the environment only."""
    refuse_on_argv(args.key, "--key", f"set ${KEY_ENV} or use --key-file FILE (mode 600)")
    if "code=" in args.url:
        refuse_on_argv(args.url, "--url with code=", f"set ${KEY_ENV} or use --key-file FILE")
    args.key = secret_from(args.key_file, KEY_ENV, "key")
    for option, env in (("sql", SQL_ENV), ("storage", STORAGE_ENV)):
        value = getattr(args, option)
        if value and holds_credential(value):
            refuse_on_argv(value, f"--{option} with a password or key",
                           f"set ${env} or use --{option}-file FILE (mode 600)")  # fmt: skip
        setattr(args, option, value or secret_from(getattr(args, f"{option}_file"), env, option))


def make_source(args: argparse.Namespace) -> ApiSource:
    view = app_view_from_settings(read_local_settings(Path.cwd()), args.app_view)
    if args.storage:
        config = None if args.hub else load_config(Path.cwd())
        hub = args.hub if config is None else config.hub_name
        return LocalSource(
            args.url, args.storage, hub, view, args.sql, min_interval=args.refresh, key=args.key,
            host_id=config.host_id if config else None,  # the app here: its trigger's skips
        )  # fmt: skip
    api = DurableApi(args.url, args.key)
    return RemoteSource(api, f"app {args.url}", view, args.sql, args.refresh)


async def serve(args: argparse.Namespace) -> None:
    token = MonitorToken.for_this_run()
    policy = Policy(
        "monitor",
        args.host,
        args.port,
        monitor_token=token,
        allowed_hosts=configured_hosts(args.allow_host),
    )
    app = web.Application()
    server = GuardedServer(app, policy)  # refuses a non-loopback address first
    add_monitor_routes(app, make_source(args))
    await server.setup()
    port = await server.listen()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Monitor of {args.url} on {token.url(f'http://{shown}:{port}')}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def run(args: argparse.Namespace) -> int:
    try:
        resolve_secrets(args)
        asyncio.run(serve(args))
    except (StartupError, ConfigError) as exc:
        print(f"devhost monitor: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
