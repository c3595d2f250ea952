import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    message = context.get_input()
    if not message or "null" in message:
        raise ValueError("Value cannot be null. (Parameter 'message')")
    yield context.call_activity("ThrowActivity", message)


main = df.Orchestrator.create(orchestrator)
