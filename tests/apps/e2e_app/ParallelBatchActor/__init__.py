import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    yield context.task_all([context.wait_for_external_event("newItem") for _ in range(4)])


main = df.Orchestrator.create(orchestrator)
