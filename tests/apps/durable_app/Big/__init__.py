import azure.durable_functions as df


def big(context: df.DurableOrchestrationContext):
    text = yield context.call_activity("BigResult", context.get_input())
    return {"length": len(text), "head": text[:3]}


main = df.Orchestrator.create(big)
