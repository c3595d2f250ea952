"""The starters' body: one positive integer."""


def parse_and_validate_input(body: bytes) -> int:
    try:
        value = int(body)
    except ValueError as exc:
        raise ValueError(f"expected an integer body, got {body[:40]!r}") from exc
    if value < 1:
        raise ValueError(f"expected a count of at least 1, got {value}")
    return value
