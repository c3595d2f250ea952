import azure.durable_functions as df


def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    yield context.call_activity("Hello", str(n))
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


main = df.Orchestrator.create(counter)
