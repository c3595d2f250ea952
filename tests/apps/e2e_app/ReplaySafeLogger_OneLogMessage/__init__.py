import logging

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    if not context.is_replaying:
        logging.info("ReplaySafeLogger Test: About to say Hello (%s)", context.instance_id)
    return (yield context.call_activity("Hello", context.get_input()))


main = df.Orchestrator.create(orchestrator)
