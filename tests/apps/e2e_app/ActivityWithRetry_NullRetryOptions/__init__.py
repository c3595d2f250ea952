import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    message = context.get_input()
    if not message:
        raise ValueError("Value cannot be null. (Parameter 'message')")
    yield context.call_activity_with_retry("ThrowActivity", None, message)


main = df.Orchestrator.create(orchestrator)
