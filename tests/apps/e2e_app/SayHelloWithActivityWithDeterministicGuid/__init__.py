import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    first, second = context.new_uuid(), context.new_uuid()
    yield context.call_activity("Hello", context.get_input())
    third = context.new_uuid()
    return len({first, second, third}) == 3


main = df.Orchestrator.create(orchestrator)
