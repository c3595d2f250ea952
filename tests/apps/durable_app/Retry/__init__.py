import azure.durable_functions as df


def retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=300, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("Flaky", options, context.get_input())
    return result


main = df.Orchestrator.create(retry)
