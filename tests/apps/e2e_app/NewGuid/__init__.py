import uuid
from typing import Any


def main(value: Any) -> str:
    return uuid.uuid4().hex
