"""Activity: read the image header from a ranged prefix of the blob (never the whole file)."""

from typing import Any

from imagemeta.activities import extract_metadata


def main(ref: dict[str, Any]) -> dict[str, Any]:
    return extract_metadata(ref)
