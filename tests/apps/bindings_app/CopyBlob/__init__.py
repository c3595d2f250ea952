import azure.functions as func


def main(
    blob: func.InputStream,
    ref: func.InputStream,  # None when the blob does not exist
    copy: func.Out[bytes],
    note: func.Out[str],
) -> None:
    extra = ref.read() if ref is not None else b"<no ref>"
    copy.set(blob.read() + b"|" + extra)
    note.set(f"copied {blob.name}")
