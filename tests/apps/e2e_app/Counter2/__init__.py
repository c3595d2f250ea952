import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    value = 0
    while value < 100:
        incr = context.wait_for_external_event("incr")
        done = context.wait_for_external_event("done")
        winner = yield context.task_any([incr, done])
        if winner is incr:
            value += 1
        else:
            break
    return value


main = df.Orchestrator.create(orchestrator)
