import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    context.set_custom_status({"nextActions": ["A", "B", "C"], "foo": 2})
    return (yield context.call_activity("Hello", context.get_input()))


main = df.Orchestrator.create(orchestrator)
