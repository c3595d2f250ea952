"""N activities at once, then wait for all of them (the Durable team's fan-out/fan-in)."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    num_activities = context.get_input()
    tasks = [context.call_activity("Hello", str(num)) for num in range(num_activities)]
    yield context.task_all(tasks)
    return "done"


main = df.Orchestrator.create(orchestrator_function)
