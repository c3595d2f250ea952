import time


def main(value: float) -> None:
    time.sleep(value or 10)
