"""Writes its input to blobs named by the activity trigger's binding data."""

import azure.functions as func


def main(value: str, byinstance: func.Out[str], bydata: func.Out[str]) -> None:
    byinstance.set(f"saved {value}")
    bydata.set(f"saved {value}")
