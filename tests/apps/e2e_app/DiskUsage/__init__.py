import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    files = yield context.call_activity("GetFileList", context.get_input())
    sizes = yield context.task_all([context.call_activity("GetFileSize", f) for f in files])
    return sum(sizes)


main = df.Orchestrator.create(orchestrator)
