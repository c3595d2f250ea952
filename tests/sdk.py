"""Running the Durable SDK's async client from synchronous tests."""

from __future__ import annotations

import asyncio
from typing import Any


def arun(coro: Any) -> Any:
    """asyncio.run, closing the SDK's shared aiohttp session before its loop goes away."""
    from azure.durable_functions.models.utils import http_utils  # noqa: PLC0415

    async def wrapped() -> Any:
        try:
            return await coro
        finally:
            await http_utils._close_session()

    return asyncio.run(wrapped())
