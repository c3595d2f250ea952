def main(cities: list) -> str:
    return "".join(f"{city} " for city in cities)
