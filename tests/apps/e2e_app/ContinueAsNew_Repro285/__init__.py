from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if value == 0:
        context.continue_as_new(1)
        return "continue as new"
    if value == 1:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    return "ok"


main = df.Orchestrator.create(orchestrator)
