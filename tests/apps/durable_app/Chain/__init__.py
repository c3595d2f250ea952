import azure.durable_functions as df


def chain(context: df.DurableOrchestrationContext):
    out = []
    for city in context.get_input() or ["Tokyo", "Seattle", "London"]:
        out.append((yield context.call_activity("Hello", city)))
        context.set_custom_status({"done": len(out)})
    return out


main = df.Orchestrator.create(chain)
