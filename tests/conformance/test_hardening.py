"""Malformed requests get the status the extension gives, never a devhost traceback, and devhost
keeps serving (issue 12.7). Paths: HttpApiHandler.cs under src/WebJobs.Extensions.DurableTask/."""

from __future__ import annotations

import pytest

from devhost.webhooks.routes import DEFAULT_MAX_BODY
from tests.conformance.conftest import Host

pytestmark = pytest.mark.e2e


# HttpApiHandler.cs L298-435 (HandleRequestAsync): a path no template matches, or a method a
# route does not take, is 404 with no body.
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/durabletask/orchestrators/Chain"),
        ("PUT", "/durabletask/instances/x"),
        ("POST", "/durabletask/instances/x"),
        ("POST", "/durabletask/instances/"),
        ("POST", "/durabletask/instances/x/bogus"),
        ("GET", "/durabletask/instances/x/terminate"),
        ("GET", "/durabletask/instances/x/raiseEvent/E"),
        ("GET", "/runtime/webhooks/durabletask/nothing/here"),
        ("PATCH", "/runtime/webhooks/durabletask/orchestrators/Chain/x"),
    ],
)
def test_unmatched_routes_are_404(host: Host, method: str, path: str) -> None:
    reply = host.http(method, path)
    assert reply.status == 404
    assert reply.body == b""


# HttpApiHandler.cs L389-408: operation names match case-insensitively.
def test_operation_names_are_case_insensitive(host: Host) -> None:
    assert host.http("POST", "/durabletask/instances/nope/TERMINATE").status == 404  # not found
    assert host.http("POST", "/durabletask/Instances/nope/Resume").status == 404


# HttpRequestMessageExtensions.cs L64-128 (GetQueryNameValuePairs: case-insensitive names).
def test_query_names_are_case_insensitive(host: Host) -> None:
    reply = host.http("DELETE", "/durabletask/instances/?CREATEDTIMEFROM=2999-01-01T00:00:00Z")
    assert reply.status == 404  # the filter was read: nothing to purge, not a 400


# devhost bounds request bodies (issue 12.2): above the limit (the Functions host's default,
# 100 MB) a declared Content-Length is refused with 413 before anything is read.
def test_oversized_body_is_413(host: Host) -> None:
    request = (
        b"POST /durabletask/orchestrators/Chain HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(DEFAULT_MAX_BODY + 1).encode() + b"\r\n"
        b"Connection: close\r\n\r\n[]"
    )
    reply = host.raw(request)
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"exceeds the limit" in reply
    assert host.http("GET", "/durabletask/instances/nope").status == 404  # still serving


# HttpApiHandler.cs L442-449: every malformed request below gets a status, and the next
# ordinary request is served.
def test_storm_of_malformed_requests(host: Host) -> None:
    cases = [
        ("GET", "/durabletask/instances/?top=abc&createdTimeFrom=notadate", None, 200),
        ("GET", "/durabletask/instances/?top=-5", None, 400),
        ("GET", "/durabletask/instances/?runtimeStatus=Unknown", None, 400),
        ("GET", "/durabletask/instances/%00", None, 404),
        ("POST", "/durabletask/orchestrators/Chain/a%00b", b"[]", 400),
        ("POST", "/durabletask/orchestrators/Chain/" + "x" * 600, b"[]", 400),
        ("POST", "/durabletask/orchestrators/Chain", b"\xff\xfe\x00", 400),
        # double.TryParse: 1e400 is infinity, TimeSpan.FromSeconds overflows (500); NaN is an
        # ArgumentException (400); the instance was started before either (L875-878).
        ("POST", "/durabletask/orchestrators/Chain?timeout=1e400&pollingInterval=1", b"[]", 500),
        ("POST", "/durabletask/orchestrators/Chain?timeout=NaN&pollingInterval=1", b"[]", 400),
        ("DELETE", "/durabletask/instances/a%0Ab", None, 404),
        ("POST", "/durabletask/instances/a%0Ab/terminate", None, 404),
    ]
    for method, path, body, status in cases:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        reply = host.http(method, path, body, headers)
        assert reply.status == status, (method, path, reply.body[:300])
        if status >= 400 and reply.body:
            assert "Traceback" not in reply.body.decode(errors="replace")
    assert host.http("GET", "/durabletask/instances/?top=1").status == 200
