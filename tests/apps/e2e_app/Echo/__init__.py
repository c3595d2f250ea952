from typing import Any


def main(value: Any) -> Any:
    return value
