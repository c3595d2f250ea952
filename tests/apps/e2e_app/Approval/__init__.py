from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input())
    approval = context.wait_for_external_event("approval")
    timeout = context.create_timer(deadline)
    winner = yield context.task_any([approval, timeout])
    if winner is approval:
        timeout.cancel()
        return "Approved" if approval.result else "Rejected"
    return "Expired"


main = df.Orchestrator.create(orchestrator)
