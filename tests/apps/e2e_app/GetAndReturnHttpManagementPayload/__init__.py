from typing import Any

import azure.durable_functions as df


def main(value: str, client: str) -> Any:
    return df.DurableOrchestrationClient(client).create_http_management_payload(value)
