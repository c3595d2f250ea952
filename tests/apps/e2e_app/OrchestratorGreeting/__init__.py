import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    child_id = context.instance_id + ":0"
    yield context.call_sub_orchestrator("SayHelloWithActivity", context.get_input(), child_id)


main = df.Orchestrator.create(orchestrator)
