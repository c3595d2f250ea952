"""A blob trigger that always fails, to drive the host's retry and poison handling."""

import azure.functions as func


def main(blob: func.InputStream) -> None:
    raise RuntimeError(f"refusing {blob.name} ({blob.length} bytes)")
