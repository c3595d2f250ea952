def main(value: list) -> int:
    return value[0] * value[1]
