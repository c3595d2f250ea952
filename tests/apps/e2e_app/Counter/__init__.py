import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    value = context.get_input()
    operation = yield context.wait_for_external_event("operation")
    done = False
    if str(operation).lower() == "incr":
        value += 1
    elif str(operation).lower() == "decr":
        value -= 1
    elif str(operation).lower() == "end":
        done = True
    context.set_custom_status(value)
    if not done:
        context.continue_as_new(value)
    return value


main = df.Orchestrator.create(orchestrator)
