"""Which process ran the activity."""

import os


def main(value: object) -> int:
    return os.getpid()
