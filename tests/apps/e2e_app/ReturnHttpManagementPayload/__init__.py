import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("GetAndReturnHttpManagementPayload", context.instance_id))


main = df.Orchestrator.create(orchestrator)
