from pathlib import Path

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    """The .NET test flips a static flag; here the flag is a file the test deletes."""
    args = context.get_input()
    output = yield context.call_activity("Hello", args["name"])
    if Path(args["flag"]).exists():
        raise Exception("Simulating Orchestration failure...")
    return output


main = df.Orchestrator.create(orchestrator)
