import azure.durable_functions as df


def catch_failure(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("Flaky", options, context.get_input())
    except Exception as exc:
        after = yield context.call_activity("Hello", "recovered")
        return {"caught": str(exc).splitlines()[0], "after": after}
    return "unexpected success"


main = df.Orchestrator.create(catch_failure)
