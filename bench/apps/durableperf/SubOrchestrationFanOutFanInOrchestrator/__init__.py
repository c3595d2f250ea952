"""N SequentialOrchestrator sub-orchestrations at once, then wait for all of them."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = context.get_input()
    tasks = [context.call_sub_orchestrator("SequentialOrchestrator") for _ in range(count)]
    yield context.task_all(tasks)
    return "done"


main = df.Orchestrator.create(orchestrator_function)
