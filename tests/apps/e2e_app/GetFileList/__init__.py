from pathlib import Path


def main(value: str) -> list:
    return sorted(str(p) for p in Path(value).iterdir() if p.is_file())
