def main(obj: object) -> str:
    return f"Printing object: {obj}"
