import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    total = 0
    for _ in range(5):
        number = yield context.wait_for_external_event("add")
        total += yield context.call_activity("Add", [total, number])
    return total


main = df.Orchestrator.create(orchestrator)
