from pathlib import Path


def main(value: dict) -> None:
    """BindToPOCOWithOutParameter: the activity's result leaves through a side channel."""
    Path(value["path"]).write_text(value["Foo"])
