from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    for _ in range(3):
        context.set_custom_status((yield context.wait_for_external_event("UpdateStatus")))
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=2))


main = df.Orchestrator.create(orchestrator)
