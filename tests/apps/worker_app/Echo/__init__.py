"""Returns what its `kind` query parameter asks for through the http `$return` binding."""

from typing import Any

import azure.functions as func


def main(req: func.HttpRequest) -> Any:
    kind = req.params.get("kind")
    if kind == "dict":
        return {"a": 1}
    if kind == "none":
        return None
    if kind == "str":
        return "plain"
    return func.HttpResponse("ok", headers={"Set-Cookie": "a=1"})
