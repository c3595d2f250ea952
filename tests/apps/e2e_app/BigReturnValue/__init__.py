import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext) -> str:
    return "*" * context.get_input()


main = df.Orchestrator.create(orchestrator)
