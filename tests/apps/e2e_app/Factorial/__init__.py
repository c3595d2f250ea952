import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    result = 1
    for i in range(1, context.get_input() + 1):
        result = yield context.call_activity("Multiply", [result, i])
    return result


main = df.Orchestrator.create(orchestrator)
