import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    sub_instance_id = yield context.call_activity("NewGuid", None)
    context.set_custom_status(sub_instance_id)
    options = df.RetryOptions(1000, 3)
    yield context.call_sub_orchestrator_with_retry(
        "ThrowOrchestrator", options, context.get_input(), sub_instance_id
    )


main = df.Orchestrator.create(orchestrator)
