import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    count = context.get_input()
    yield context.task_all([context.call_activity("Hello", f"{i:03d}") for i in range(count)])
    return "Done"


main = df.Orchestrator.create(orchestrator)
