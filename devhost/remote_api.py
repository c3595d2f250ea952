"""Client side of the Durable HTTP API for devhost's own tools: paging and plain JSON calls.

The CLI (`restart-failed`), the process wrapper the tests, demo and bench drive, and the tests
themselves all list instances the way the SDK does: `GET .../instances?...` page by page,
following `x-ms-continuation-token`. One synchronous (urllib) implementation, so none of them
needs an event loop.

They call the public webhooks (`/runtime/webhooks/durabletask`, as against a deployed app), with
the key, when there is one, in the `x-functions-key` header; redirects are never followed (urllib
would resend the header to wherever `Location` points), so a 3xx is an HTTPError.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any

API_PATH = "/runtime/webhooks/durabletask"
CONTINUATION = "x-ms-continuation-token"
KEY_HEADER = "x-functions-key"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)

QueryValue = str | int | bool


def _query(params: Mapping[str, QueryValue]) -> str:
    return urllib.parse.urlencode(
        {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}
    )


def request_json(
    url: str, method: str = "GET", body: Any = None, *, timeout: float = 30, key: str | None = None
) -> tuple[int, Any, Message]:
    """(status, decoded JSON or None, headers) of one call; HTTP errors raise HTTPError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - devhost's URL
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header(KEY_HEADER, key)
    with _OPENER.open(req, timeout=timeout) as resp:
        raw = resp.read()
        return int(resp.status), (json.loads(raw) if raw else None), resp.headers


def get_json(url: str, *, timeout: float = 10, key: str | None = None) -> Any:
    """GET decoded JSON, None for 404 (an instance that does not exist)."""
    try:
        return request_json(url, timeout=timeout, key=key)[1]
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def iter_pages(
    base_url: str,
    query: Mapping[str, QueryValue],
    *,
    api_path: str = API_PATH,
    timeout: float = 30,
    key: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Each page of `GET {base_url}{api_path}/instances?{query}`, following continuations."""
    url = f"{base_url}{api_path}/instances/?{_query(query)}"
    token = ""
    while True:
        req = urllib.request.Request(url)  # noqa: S310 - devhost's URL
        if token:
            req.add_header(CONTINUATION, token)
        if key:
            req.add_header(KEY_HEADER, key)
        with _OPENER.open(req, timeout=timeout) as resp:
            page: list[dict[str, Any]] = json.loads(resp.read() or b"[]")
            token = resp.headers.get(CONTINUATION) or ""
        yield page
        if not token:
            return


def iter_instances(
    base_url: str, *, key: str | None = None, **query: QueryValue
) -> Iterator[dict[str, Any]]:
    """Every instance matching the query (runtimeStatus=..., showInput=true, top=page size)."""
    for page in iter_pages(base_url, query, key=key):
        yield from page
