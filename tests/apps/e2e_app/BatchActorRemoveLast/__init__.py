import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    required = ["item1", "item2", "item3", "item4", "item5"]
    if context.get_input() in required:
        required.remove(context.get_input())
    while required:
        yield context.wait_for_external_event("deleteItem")
        required.pop()


main = df.Orchestrator.create(orchestrator)
