"""POST /api/SubOrchestrationFanOutFanIn with body N: N sequential sub-orchestrations."""

import azure.durable_functions as df
import azure.functions as func
from shared_utils.parse_and_validate_input import parse_and_validate_input


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    count = parse_and_validate_input(req.get_body())
    instance_id = await client.start_new("SubOrchestrationFanOutFanInOrchestrator", None, count)
    return client.create_check_status_response(req, instance_id)
