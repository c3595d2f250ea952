import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    args = context.get_input()
    return (
        yield context.call_sub_orchestrator(
            args["FunctionName"], args.get("Input"), args.get("InstanceId")
        )
    )


main = df.Orchestrator.create(orchestrator)
