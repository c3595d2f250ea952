import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    return context.parent_instance_id


main = df.Orchestrator.create(orchestrator)
