"""The monitor's and the admin routes over fake backends (no storage): redirect, page headers,
JSON views, CSRF refusals, restart-all-failed dry run, host status shape, manual runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devhost.admin import HostAdminBackend, add_admin_routes
from devhost.monitor.appview import load_app_view
from devhost.monitor.index import InstanceIndex, Summary
from devhost.monitor.routes import ROWS_PAGE_MAX, add_monitor_routes

VIEW = load_app_view("imagemeta.devview")


class FakeSource:
    label = "fake"
    view = VIEW

    def __init__(self) -> None:
        self.idx = InstanceIndex(VIEW)
        self.actions: list[tuple[str, str]] = []
        self.rows_asked: list[tuple[int, str | None, str | None]] = []
        for i, (status, out) in enumerate(
            [("Completed", {"status": "stored"}), ("Completed", {"status": "rejected",
              "reason": "bad"}), ("Failed", "Activity function 'StoreMetadata' failed: boom"),
             ("Running", None)]
        ):  # fmt: skip
            self.idx.upsert(Summary.build(view=VIEW, instance_id=f"i{i}", name="O", status=status,
                created=1000.0 + i, updated=1001.0 + i, input_value={"name": f"b{i}.png"},
                output_value=out))  # fmt: skip

    async def index(self) -> InstanceIndex:
        return self.idx

    async def status(self, instance_id: str) -> dict[str, Any] | None:
        return None

    async def act(self, instance_id: str, action: str, **args: Any) -> int:
        self.actions.append((instance_id, action))
        return 202

    async def rows(
        self, limit: int, name: str | None = None, after: str | None = None
    ) -> dict[str, Any] | None:
        self.rows_asked.append((limit, name, after))
        if after == "bad":
            raise ValueError("'bad' is not a row id")
        return {"total": 0, "byFormat": {}, "rows": [], "next": None}

    async def poison_count(self) -> int | None:
        return 3

    async def skip_counts(self) -> dict[str, int] | None:
        return {"not a .jpg, .jpeg, .png or .gif": 2, "name does not match": 1}

    async def close(self) -> None:
        pass


class FakeBackend:
    host_id = "myhost"
    started = 0.0

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def trigger_type(self, function_name: str) -> str | None:
        return {"Blob": "blobTrigger", "Orch": "orchestrationTrigger"}.get(function_name)

    def check_input(self, function_name: str, input_text: str) -> str | None:
        return None if input_text.startswith("images-input/") else "not in images-input"

    async def invoke_by_hand(self, function_name: str, input_text: str) -> None:
        self.calls.append((function_name, input_text))


def _run(test: Callable[[TestClient[Any, Any], FakeSource, FakeBackend], Awaitable[None]]) -> None:
    async def main() -> None:
        source, backend = FakeSource(), FakeBackend()
        app = web.Application()
        add_monitor_routes(app, source)
        add_admin_routes(app, backend)
        async with TestClient(TestServer(app)) as client:
            await test(client, source, backend)

    asyncio.run(main())


def test_page_redirect_and_security_headers() -> None:
    async def t(client: TestClient[Any, Any], source: FakeSource, _: FakeBackend) -> None:
        resp = await client.get("/", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/monitor"
        resp = await client.get("/monitor")
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "app.js" in await resp.text()
        assert (await client.get("/monitor/static/app.js")).status == 200

    _run(t)


def test_overview_and_filtered_list() -> None:
    async def t(client: TestClient[Any, Any], source: FakeSource, _: FakeBackend) -> None:
        view = await (await client.get("/monitor/api/overview")).json()
        assert view["total"] == 4 and view["poison"] == 3
        assert view["skipped"] == {  # issue 23: what the blob trigger skipped, by reason
            "total": 3,
            "byReason": {"not a .jpg, .jpeg, .png or .gif": 2, "name does not match": 1},
        }
        assert view["byOutcome"]["stored"] == 1 and view["byOutcome"]["failed"] == 1
        page = await (await client.get("/monitor/api/instances?outcome=rejected")).json()
        assert [(i["subject"], i["reason"]) for i in page["items"]] == [("b1.png", "bad")]
        page = await (await client.get("/monitor/api/instances?status=Failed")).json()
        assert page["items"][0]["reason"] == "StoreMetadata: boom"

    _run(t)


def test_rows_pages_are_bounded_and_a_bad_continuation_is_a_400() -> None:
    async def t(client: TestClient[Any, Any], source: FakeSource, _: FakeBackend) -> None:
        assert (await client.get("/monitor/api/rows?limit=50&after=123")).status == 200
        assert (await client.get("/monitor/api/rows?limit=100000")).status == 200
        assert (await client.get("/monitor/api/rows?limit=0")).status == 200
        assert source.rows_asked == [
            (50, None, "123"),
            (ROWS_PAGE_MAX, None, None),
            (1, None, None),
        ]
        resp = await client.get("/monitor/api/rows?after=bad")
        assert resp.status == 400 and "bad continuation" in (await resp.json())["error"]
        assert (await client.get("/monitor/api/rows?limit=x")).status == 400

    _run(t)


def test_posts_need_the_header_and_the_same_origin() -> None:
    async def t(client: TestClient[Any, Any], source: FakeSource, _: FakeBackend) -> None:
        url = "/monitor/api/instances/i2/restart"
        assert (await client.post(url, data="{}")).status == 403
        foreign = {"X-Devhost-Monitor": "1", "Origin": "http://evil.example"}
        assert (await client.post(url, data="{}", headers=foreign)).status == 403
        cross = {"X-Devhost-Monitor": "1", "Sec-Fetch-Site": "cross-site"}
        assert (await client.post(url, data="{}", headers=cross)).status == 403
        assert source.actions == []
        origin = str(client.make_url("")).rstrip("/")
        ok = {"X-Devhost-Monitor": "1", "Origin": origin, "Sec-Fetch-Site": "same-origin"}
        resp = await client.post(url, data="{}", headers=ok)
        assert resp.status == 200 and (await resp.json())["ok"]
        assert source.actions == [("i2", "restart")]
        dry = await client.post("/monitor/api/restart-failed", data="{}", headers=ok)
        assert [i["subject"] for i in (await dry.json())["instances"]] == ["b2.png"]
        assert source.actions == [("i2", "restart")]  # a dry run changes nothing
        body = json.dumps({"dryRun": False})
        done = await (await client.post("/monitor/api/restart-failed", data=body,
                                        headers=ok)).json()  # fmt: skip
        assert done["instances"][0]["ok"] and len(source.actions) == 2

    _run(t)


def test_admin_routes() -> None:
    async def t(client: TestClient[Any, Any], _: FakeSource, backend: FakeBackend) -> None:
        status = await (await client.get("/admin/host/status")).json()
        assert status["id"] == "myhost" and status["state"] == "Running"
        assert {"version", "processUptime"} <= status.keys()
        body = json.dumps({"input": "images-input/a.png"})
        assert (await client.post("/admin/functions/Nope", data=body)).status == 404
        assert (await client.post("/admin/functions/Orch", data=body)).status == 400
        assert (await client.post("/admin/functions/Blob", data=body)).status == 202
        elsewhere = json.dumps({"input": "private/a.png"})
        refused = await client.post("/admin/functions/Blob", data=elsewhere)
        assert refused.status == 400 and (await refused.json())["error"] == "not in images-input"
        await asyncio.sleep(0.05)
        assert backend.calls == [("Blob", "images-input/a.png")]

    _run(t)


def test_a_blob_trigger_run_by_hand_takes_only_blobs_its_path_matches() -> None:
    # Issue 20 item 10: a path in another container used to run with the trigger's own
    # container as its label. The check is the trigger's configured path, whatever it is.
    raw = {"type": "blobTrigger", "name": "b", "path": "uploads/in/{name}.png"}
    spec = SimpleNamespace(name="Fn", trigger=SimpleNamespace(type="blobTrigger", raw=raw))
    host = SimpleNamespace(
        functions={"Fn": spec},
        runner=SimpleNamespace(trigger_type=lambda n: "blobTrigger" if n == "Fn" else None),
        config=SimpleNamespace(
            host_id="h", settings={"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
        ),
    )
    backend = HostAdminBackend(host)
    assert backend.check_input("Fn", "uploads/in/cat.png") is None
    assert backend.check_input("Fn", "/uploads/in/a/b.png") is None  # greedy, as the host
    for outside in ("private/in/cat.png", "uploads-x/in/cat.png", "uploads", "uploads/cat.png",
                    "uploads/in/cat.jpg"):  # fmt: skip
        problem = backend.check_input("Fn", outside)
        assert problem is not None and "uploads" in problem, outside
    problem = backend.check_input("Fn", "uploads/in/\x1b[2J.gif") or ""
    assert "\x1b" not in problem and "\\x1b[2J" in problem  # the name is escaped
