"""100 activities one after another (the Durable team's SequentialOrchestrator)."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    for num in range(100):
        yield context.call_activity("Hello", str(num))
    return "Done"


main = df.Orchestrator.create(orchestrator_function)
