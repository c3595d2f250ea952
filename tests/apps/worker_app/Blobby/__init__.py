"""A blob trigger without a $return binding: returning a value fails the invocation."""

import azure.functions as func


def main(blob: func.InputStream) -> str | None:
    return None if blob.read() == b"none" else "a value"
