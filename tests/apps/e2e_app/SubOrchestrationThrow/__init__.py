import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    message = context.get_input()
    try:
        yield context.call_sub_orchestrator("ThrowOrchestrator", message)
    except Exception as exc:
        if message not in str(exc):
            raise Exception("InnerException was not the expected value.") from exc
        raise


main = df.Orchestrator.create(orchestrator)
