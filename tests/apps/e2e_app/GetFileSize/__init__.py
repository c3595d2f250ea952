from pathlib import Path


def main(value: str) -> int:
    return Path(value).stat().st_size
