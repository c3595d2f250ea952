def main(payload: int) -> str:
    return "x" * payload
