"""Activity: idempotent INSERT of the metadata row through pyodbc."""

from typing import Any

from imagemeta.activities import store_metadata


def main(metadata: dict[str, Any]) -> str:
    return store_metadata(metadata)
