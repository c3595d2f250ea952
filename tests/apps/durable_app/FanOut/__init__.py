import azure.durable_functions as df


def fan_out(context: df.DurableOrchestrationContext):
    names = context.get_input()
    results = yield context.task_all([context.call_activity("Hello", n) for n in names])
    return sorted(results)


main = df.Orchestrator.create(fan_out)
