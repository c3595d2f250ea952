"""Blocks until the file its input names exists (the test creates it to let the thread end)."""

import pathlib
import time


def main(path: str) -> str:
    for _ in range(600):
        if pathlib.Path(path).exists():
            return "found"
        time.sleep(0.1)
    return "gave up"
