"""Bodies in and JSON out, as the extension's HTTP layer does them: ReadAsStringAsync for
request bodies (bounded by devhost), Json.NET's compact JSON, CreateErrorResponse's shape."""

from __future__ import annotations

import codecs
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from devhost.webhooks.context import Context

CHUNK = 1 << 16
STACK = "   at devhost (no .NET stack trace)"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """CreateResponse<T>: Json.NET's compact text, UTF-8, application/json."""
    return web.Response(
        text=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def error_response(
    status: int, message: str, exc: BaseException | None = None, type_name: str = ""
) -> web.Response:
    """HttpRequestMessageExtensions.CreateErrorResponse: {Message} or, with an exception,
    {Message, ExceptionMessage, ExceptionType, StackTrace}."""
    body: dict[str, Any] = {"Message": message}
    if exc is not None:
        body["ExceptionMessage"] = str(exc)
        body["ExceptionType"] = type_name or getattr(exc, "dotnet_type", "System.Exception")
        body["StackTrace"] = STACK
    return json_response(body, status=status)


class BodyTooLarge(Exception):
    pass


class InvalidJson(Exception):
    dotnet_type = "Newtonsoft.Json.JsonReaderException"


# --- request bodies ---------------------------------------------------------------------
async def read_body(ctx: Context) -> str:
    """The body as text (ReadAsStringAsync: the declared charset or UTF-8, BOM dropped,
    undecodable bytes replaced), refused with 413 above the configured limit."""
    request, limit = ctx.request, ctx.max_body
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(
            f"Request body of {request.content_length} bytes exceeds the limit of {limit} bytes"
        )
    data = bytearray()  # one buffer: no list of chunks and joined copy side by side
    async for chunk in request.content.iter_chunked(CHUNK):
        if len(data) + len(chunk) > limit:
            raise BodyTooLarge(f"Request body exceeds the limit of {limit} bytes")
        data += chunk
    charset = request.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    if charset.lower().replace("_", "-") in ("utf-8", "utf8"):
        charset = "utf-8-sig"
    text = data.decode(charset, errors="replace")
    del data
    return text


def parse_json(text: str, *, empty_is_null: bool) -> Any:
    if not text.strip():
        if empty_is_null:
            return None
        raise InvalidJson("Error reading JToken from JsonReader. Path '', line 0, position 0.")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidJson(str(exc)) from exc
