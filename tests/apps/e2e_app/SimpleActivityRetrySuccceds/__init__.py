import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    first_retry_ms = context.get_input()
    yield context.call_activity_with_retry("NewGuid", df.RetryOptions(first_retry_ms, 5), None)
    return True


main = df.Orchestrator.create(orchestrator)
