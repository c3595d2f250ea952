"""httpTrigger routing and the host's ping route through a real devhost (tests/apps/routes_app,
with a key so the guard's key rule is live), each pinned to the Functions host source it ports:

- Azure/azure-functions-host src/WebJobs.Script.WebHost/WebScriptHostHttpRoutesManager.cs
  (InitializeHttpFunctionRoutes: no `methods` -> no HttpMethodRouteConstraint; empty route ->
  the function's name) over Azure/azure-webjobs-sdk-extensions
  src/WebJobs.Extensions.Http/Routing/WebJobsRouteBuilder.cs (ASP.NET Core `Route`s in
  RouteComparison order);
- src/WebJobs.Script.WebHost/Middleware/FunctionInvocationMiddleware.cs (PopulateRouteData) and
  src/WebJobs.Script.Grpc/MessageExtensions/GrpcMessageConversionExtensions.cs
  (PopulateHttpRouteDataAsParams: null values dropped) for `req.route_params`;
- src/WebJobs.Script.WebHost/Controllers/HostController.cs (Ping: GET and POST, no
  [Authorize], ResponseCache NoStore);
- src/WebJobs.Script/Host/ProxyFunctionProvider.cs (proxies.json read only with EnableProxies).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess

APP = REPO_ROOT / "tests" / "apps" / "routes_app"
KEY = "routes-test-key"


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    log = tmp_path_factory.mktemp("routes") / "devhost.log"
    proc = DevhostProcess(
        app_dir=APP,
        storage_connection_string=azurite.connection_string,
        log_path=log,
        env={
            "DEVHOST_KEY": KEY,
            "AzureFunctionsJobHost__extensions__durableTask__hubName": "Routes",
        },
    )
    proc.start()
    yield proc
    proc.stop()


def call(host: DevhostProcess, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
    req = urllib.request.Request(host.base_url + path, method=method, data=None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None, dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, None, dict(e.headers)


def routed(host: DevhostProcess, method: str, path: str) -> tuple[str, dict[str, str]] | int:
    """(function, route params) when a function answered, else the status."""
    status, body, _ = call(host, method, path)
    if status != 200 or not isinstance(body, dict):
        return status
    assert body["method"] == method
    return body["function"], body["params"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_a_function_without_methods_takes_every_method(host: DevhostProcess, method: str) -> None:
    # WebScriptHostHttpRoutesManager: `if (httpTrigger.Methods != null)` adds the only method
    # constraint; the default route is the function's name, matched ignoring case.
    assert routed(host, method, "/api/anymethod") == ("AnyMethod", {})


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/items", ("GetItem", {})),  # optional parameter absent: not in params
        ("GET", "/api/items/42", ("GetItem", {"id": "42"})),
        ("GET", "/api/ITEMS/42/", ("GetItem", {"id": "42"})),  # case, one trailing slash
        ("GET", "/api/items/abc", 404),  # {id:int} fails: no route matches
        ("GET", "/api/items/99999999999", 404),  # beyond int32
        ("POST", "/api/items/42", 404),  # methods: ["get"] -> 404, never 405
        ("GET", "/api/items//", 404),  # an empty segment never matches
        ("GET", "/api/catalog/new", ("CatalogNew", {})),  # literal before {name}
        ("GET", "/api/catalog/old", ("Catalog", {"name": "old"})),
        ("GET", "/api/files/a/b%20c/d.txt", ("Files", {"path": "a/b c/d.txt"})),
        ("DELETE", "/api/files", ("Files", {})),  # catch-all may be empty
        ("GET", "/api/greet/Ann", ("Greet", {"name": "Ann", "times": "1"})),  # default
        ("POST", "/api/greet/Ann/3", ("Greet", {"name": "Ann", "times": "3"})),
        ("GET", "/api/greet/Ann1", 404),  # alpha
        ("GET", "/api/greet/Ann/x", 404),  # int
        ("PUT", "/api/things/3F2504E0-4F89-11D3-9A0C-0305E82C3301/abc",
         ("Thing", {"id": "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "code": "abc"})),
        ("PUT", "/api/things/not-a-guid/abc", 404),
        ("PUT", "/api/things/3F2504E0-4F89-11D3-9A0C-0305E82C3301/abcd", 404),  # length(3)
        ("GET", "/api/reports/2024/summary.pdf",
         ("Report", {"year": "2024", "name": "summary", "ext": "pdf"})),
        ("GET", "/api/reports/2024/summary", ("Report", {"year": "2024", "name": "summary"})),
        ("GET", "/api/reports/1999/summary.pdf", 404),  # range(2000,2099)
        ("GET", "/api/nothing-here", 404),
    ],
)  # fmt: skip
def test_route_templates_as_aspnet_core_matches_them(
    host: DevhostProcess, method: str, path: str, expected: tuple[str, dict[str, str]] | int
) -> None:
    assert routed(host, method, path) == expected


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_is_anonymous_and_not_cached(host: DevhostProcess, method: str) -> None:
    # HostController.Ping: [HttpGet][HttpPost], no [Authorize], 200 Ok() with no body,
    # [ResponseCache(NoStore = true, Location = ResponseCacheLocation.None)].
    status, body, headers = call(host, method, "/admin/host/ping")
    assert (status, body) == (200, None)
    assert headers["Cache-Control"] == "no-store,no-cache"
    assert headers["Pragma"] == "no-cache"


def test_host_status_still_needs_the_key(host: DevhostProcess) -> None:
    # HostController.GetHostStatus: [Authorize(Policy = AdminAuthLevelOrInternal)].
    assert call(host, "GET", "/admin/host/status")[0] == 401
    status, body, _ = call(host, "GET", f"/admin/host/status?code={KEY}")
    assert status == 200 and body["state"] == "Running"


def test_proxies_json_is_announced_once(host: DevhostProcess) -> None:
    # ProxyFunctionProvider: without AzureWebJobsFeatureFlags=EnableProxies the v4 host never
    # reads proxies.json, so its route is a 404 in Azure too.
    assert routed(host, "GET", "/legacy/x") == 404
    assert host.log_path is not None
    lines = [ln for ln in Path(host.log_path).read_text().splitlines() if "proxies.json" in ln]
    assert len(lines) == 1, lines
    assert "ignored" in lines[0] and "EnableProxies" in lines[0]
