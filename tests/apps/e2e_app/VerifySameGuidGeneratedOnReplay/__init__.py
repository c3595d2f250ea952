import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    first = context.new_uuid()
    if (yield context.call_activity("Echo", first)) != first:
        return False
    second = context.new_uuid()
    return (yield context.call_activity("Echo", second)) == second


main = df.Orchestrator.create(orchestrator)
