"""POST /api/ManyInstances with body N: N SequentialOrchestrator instances, 200 starts at once
(as the Durable team's ManyInstances starter)."""

import asyncio

import azure.durable_functions as df
import azure.functions as func
from shared_utils.parse_and_validate_input import parse_and_validate_input


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    count = parse_and_validate_input(req.get_body())
    gate = asyncio.Semaphore(200)

    async def start() -> str:
        async with gate:
            return str(await client.start_new("SequentialOrchestrator"))

    ids = await asyncio.gather(*(start() for _ in range(count)))
    return func.HttpResponse("\n".join(ids), mimetype="text/plain")
