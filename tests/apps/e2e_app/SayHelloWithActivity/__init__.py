import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("Hello", context.get_input()))


main = df.Orchestrator.create(orchestrator)
