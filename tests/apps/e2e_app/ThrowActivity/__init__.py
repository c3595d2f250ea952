def main(value: str) -> None:
    raise Exception(value)
