def main(value: str) -> str:
    return f"Hello, {value}!"
