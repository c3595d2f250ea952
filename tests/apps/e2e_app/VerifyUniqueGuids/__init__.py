import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext) -> bool:
    guids = set()
    for _ in range(10000):
        guid = context.new_uuid()
        if guid in guids:
            return False
        guids.add(guid)
    return True


main = df.Orchestrator.create(orchestrator)
