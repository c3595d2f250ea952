"""Blocks until the test sets RELEASE[value] (a thread the host cannot stop)."""

import collections
import threading

RELEASE: collections.defaultdict[str, threading.Event] = collections.defaultdict(threading.Event)
FINISHED: list[str] = []


def main(value: str) -> str:
    RELEASE[value].wait(60)
    FINISHED.append(value)
    return "finished"
