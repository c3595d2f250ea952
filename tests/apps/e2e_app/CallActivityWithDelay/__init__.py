import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    yield context.call_activity("TimeDelayActivity", context.get_input())
    return "Done"


main = df.Orchestrator.create(orchestrator)
