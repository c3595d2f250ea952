"""The perf apps' activity: no work, so the figures measure the Durable machinery."""


def main(name: str) -> str:
    return f"Hello {name}!"
