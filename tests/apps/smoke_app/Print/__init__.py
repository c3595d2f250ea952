def main(input: int) -> str:
    return f"{input}"
