import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    args = context.get_input()
    return (yield context.call_activity(args["FunctionName"], args.get("Input")))


main = df.Orchestrator.create(orchestrator)
