"""Waits forever on the event loop; CANCELLED records that the host cancelled it."""

import asyncio

CANCELLED: list[str] = []


async def main(value: str) -> str:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        CANCELLED.append(value)
        raise
    return "never"
