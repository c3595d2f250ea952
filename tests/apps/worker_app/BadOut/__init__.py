"""Sets a blob output to a value the blob converter cannot encode."""

import azure.functions as func


def main(value: object, out: func.Out[bytes]) -> None:
    out.set(42)  # type: ignore[arg-type]
