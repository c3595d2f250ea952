"""Returns what the worker's func.Context holds, read inside the function's thread."""

import azure.functions as func


def main(value: object, context: func.Context) -> dict[str, object]:
    retry = context.retry_context
    return {
        "is_context": isinstance(context, func.Context),
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "function_directory": context.function_directory,
        "thread_invocation_id": context.thread_local_storage.invocation_id,
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "attributes": context.trace_context.attributes,
        "retry": [retry.retry_count, retry.max_retry_count, retry.rpc_exception.message],
        "retry_has_exception": hasattr(retry, "exception"),
    }
