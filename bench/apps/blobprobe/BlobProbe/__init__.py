"""Benchmark probe: records when the host hands a blob to the function (detection latency)."""

import os
import time

import azure.functions as func


def main(blob: func.InputStream) -> None:
    line = f"{time.time():.6f}\t{blob.name}\n".encode()
    fd = os.open(os.environ["PROBE_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
