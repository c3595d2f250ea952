import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    yield context.call_sub_orchestrator_with_retry("ThrowOrchestrator", None, context.get_input())


main = df.Orchestrator.create(orchestrator)
