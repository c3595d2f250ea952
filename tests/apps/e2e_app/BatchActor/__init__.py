import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    required = {"item1", "item2", "item3", "item4", "item5"}
    required.discard(context.get_input())
    while required:
        required.discard((yield context.wait_for_external_event("newItem")))


main = df.Orchestrator.create(orchestrator)
