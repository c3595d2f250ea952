from datetime import timedelta

import azure.durable_functions as df


def approval(context: df.DurableOrchestrationContext):
    timeout = context.create_timer(
        context.current_utc_datetime + timedelta(seconds=context.get_input())
    )
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timeout])
    if winner == event:
        timeout.cancel()
        return {"approved": event.result}
    return {"approved": None, "timedOut": True}


main = df.Orchestrator.create(approval)
