import azure.durable_functions as df


def parent(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("Chain", ["A", "B"])
    second = yield context.call_sub_orchestrator(
        "FanOut", ["x", "y"], f"{context.instance_id}-child"
    )
    return {"chain": first, "fanout": second}


main = df.Orchestrator.create(parent)
