"""`python -m devhost.monitor --url https://<app>.azurewebsites.net --key <system key>`: the
monitor page against a deployed app (its Durable HTTP API; `--sql` adds the app view's rows).

With `--storage` (and `--hub`) it reads the task hub's Instances table directly, as the monitor
inside devhost does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from devhost.config import ConfigError, load_config, read_local_settings
from devhost.monitor.api import DurableApi
from devhost.monitor.appview import app_view_from_settings
from devhost.monitor.routes import add_monitor_routes
from devhost.monitor.sources import ApiSource, LocalSource, RemoteSource


def build_parser(prog: str = "python -m devhost.monitor") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="the app's base URL (https://<app>...)")
    p.add_argument(
        "--key",
        default=os.environ.get("DURABLE_SYSTEM_KEY"),
        help="the app's durabletask_extension system key (or $DURABLE_SYSTEM_KEY)",
    )
    p.add_argument("--sql", help="connection string for the app view's rows (its ROWS_SETTING)")
    p.add_argument(
        "--app-view",
        help="plug-in module with the app's outcome words (default: DEVHOST_APP_VIEW in "
        "./local.settings.json; devhost/monitor/appview.py)",
    )
    p.add_argument("--storage", help="storage connection string: read the Instances table")
    p.add_argument(
        "--hub", help="task hub name (with --storage; default: ./host.json's, as devhost reads it)"
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7072)
    p.add_argument("--refresh", type=float, default=2.0, help="min seconds between polls")


def make_source(args: argparse.Namespace) -> ApiSource:
    view = app_view_from_settings(read_local_settings(Path.cwd()), args.app_view)
    if args.storage:
        hub = args.hub or load_config(Path.cwd()).hub_name
        return LocalSource(args.url, args.storage, hub, view, args.sql, min_interval=args.refresh)
    api = DurableApi(args.url, args.key)
    return RemoteSource(api, f"app {args.url}", view, args.sql, args.refresh)


async def serve(args: argparse.Namespace) -> None:
    app = web.Application()
    add_monitor_routes(app, make_source(args))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"Monitor of {args.url} on http://{args.host}:{args.port}/monitor", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(serve(args))
    except ConfigError as exc:
        print(f"devhost monitor: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
