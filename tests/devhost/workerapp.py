"""tests/apps/worker_app loaded in-process as devhost loads it (`__app__.<Folder>`), with the
module names and sys.path entry put back afterwards so other in-process apps load cleanly."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from devhost.loader import FunctionSpec, load_functions
from devhost.process import REPO_ROOT

APP = REPO_ROOT / "tests" / "apps" / "worker_app"
SETTINGS = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def _app_modules() -> dict[str, ModuleType]:
    return {k: v for k, v in sys.modules.items() if k == "__app__" or k.startswith("__app__.")}


@contextmanager
def worker_app() -> Iterator[dict[str, FunctionSpec]]:
    saved = _app_modules()
    for name in saved:
        del sys.modules[name]
    try:
        yield {f.name: f for f in load_functions(APP, SETTINGS)}
    finally:
        for name in _app_modules():
            del sys.modules[name]
        sys.modules.update(saved)
        if str(APP) in sys.path:
            sys.path.remove(str(APP))


def module(function_name: str) -> ModuleType:
    """A loaded function's module, to reach the state it records."""
    return sys.modules[f"__app__.{function_name}"]


class ManualTimers:
    """The invoker's injected `sleep`: a timer fires only when the test lets its duration pass,
    so no assertion depends on the wall clock."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self._fired: dict[float, asyncio.Event] = {}
        self.armed = asyncio.Event()

    def _event(self, seconds: float) -> asyncio.Event:
        return self._fired.setdefault(seconds, asyncio.Event())

    async def sleep(self, seconds: float) -> None:
        self.started.append(seconds)
        self.armed.set()
        await self._event(seconds).wait()

    def elapse(self, seconds: float) -> None:
        self._event(seconds).set()
