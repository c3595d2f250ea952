def main(value: int) -> str:
    return "*" * value
