from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if value > 0:
        timer = context.create_timer(context.current_utc_datetime + timedelta(days=1))
        signal = context.wait_for_external_event(f"signal{value}")
        yield context.task_any([timer, signal])
        timer.cancel()
        context.continue_as_new(value - 1)
        return str(value)
    return "ok" if value == 0 else "error"


main = df.Orchestrator.create(orchestrator)
