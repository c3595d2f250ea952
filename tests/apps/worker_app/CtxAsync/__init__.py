"""The async twin of Ctx: the worker runs it on its event loop."""

import azure.functions as func


async def main(value: object, context: func.Context) -> list[str]:
    return [context.invocation_id, context.thread_local_storage.invocation_id]
