import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    caught = 0
    for _ in range(context.get_input()):
        try:
            yield context.call_activity("ThrowActivity", "Kah-BOOOOOM!!!")
        except Exception:
            caught += 1
    return caught


main = df.Orchestrator.create(orchestrator)
