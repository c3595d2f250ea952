from datetime import timedelta

import azure.durable_functions as df


def timer(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(seconds=context.get_input()))
    return (context.current_utc_datetime - start).total_seconds()


main = df.Orchestrator.create(timer)
