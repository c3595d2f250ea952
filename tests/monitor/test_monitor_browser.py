"""The monitor page in a real browser (Debian's chromium driven by Playwright) against the real
app under devhost: counts, filters, the retry timeline, restart, escaping, cross-site POSTs."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devhost.monitor.appview import load_app_view
from devhost.monitor.chromium import ARGS, CHROMIUM
from tests.monitor.conftest import FAILED, REJECTED, XSS_NAME, Hub, instance_of
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
VIEW = load_app_view("imagemeta.devview")  # the app's words, as devhost loads them

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
SHOTS = os.environ.get("MONITOR_SCREENSHOTS")  # a folder (docs/) to keep the screenshots in


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh installs it)")
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # A browser far from UTC (+13:45) with a day-first locale: a time shown or read in the
    # browser's zone or format instead of the page's one (ISO UTC) cannot pass unnoticed.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Pacific/Chatham", locale="de-DE"
    )
    pg = context.new_page()
    pg.dialogs = []  # every alert/confirm/prompt the page opened
    pg.errors = []

    def on_dialog(dialog: Any) -> None:
        pg.dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def _expected(hub: Hub) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inst in hub.pipeline.devhost.list_instances():
        outcome = VIEW.describe(inst["runtimeStatus"], None, inst.get("output")).outcome
        counts[outcome] = counts.get(outcome, 0) + 1
        counts[inst["runtimeStatus"]] = counts.get(inst["runtimeStatus"], 0) + 1
        counts["total"] = counts.get("total", 0) + 1
    return counts


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def monitor(hub: Hub, fragment: str = "") -> str:
    """The page's URL with this run's token (what devhost prints at start)."""
    return hub.pipeline.devhost.monitor_url + fragment


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")  # the page's one date format
LOCALE_DATE = re.compile(
    r"\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d\d:\d\d\s?[AP]M|\d{1,2}\.\d{1,2}\.\d{4}"
)


def _dates_are_iso_utc(page: Any, selector: str, at_least: int = 1) -> list[str]:
    """Every date in `selector` in the one format (ISO UTC with the zone), none in a locale's."""
    text = _text(page, selector)
    assert not LOCALE_DATE.search(text), f"a locale date in {selector}: {text[:400]!r}"
    found = DATE.findall(text)
    assert len(found) >= at_least, f"{len(found)} ISO UTC dates in {selector}: {text[:400]!r}"
    return list(found)


class _Held:
    """Requests to `pattern` held back until released (the page's fetches, to see what it
    shows before a reply arrives)."""

    def __init__(self, page: Any, pattern: str) -> None:
        self.page, self.pattern, self.routes = page, pattern, []
        page.route(pattern, self.hold)

    def hold(self, route: Any) -> None:
        self.routes.append(route)

    def release(self) -> None:
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.pattern)  # lets through any held request not seen here yet


def test_overview_shows_the_hub_counts(hub: Hub, page: Any) -> None:
    expected = _expected(hub)
    assert expected["failed"] == FAILED and expected["rejected"] == REJECTED
    assert page.goto(hub.base_url + "/monitor").status == 401  # no token, no cookie yet
    token = hub.pipeline.devhost.monitor_token
    page.goto(f"{hub.base_url}/?token={token}")  # redirects to /monitor, keeping the token
    page.wait_for_selector("#count-total")
    assert page.url.endswith("/monitor")  # the page dropped the token from the address bar
    page.reload()  # the cookie alone lets it in now
    page.wait_for_selector("#count-total")
    card = "#count-{} .n"
    assert _text(page, card.format("total")) == str(expected["total"])
    assert _text(page, card.format("status-Failed")) == str(FAILED)
    assert _text(page, card.format("status-Completed")) == str(expected["Completed"])
    assert _text(page, card.format("outcome-stored")) == str(expected["stored"])
    assert _text(page, card.format("outcome-rejected")) == str(REJECTED)
    assert _text(page, card.format("outcome-failed")) == str(FAILED)
    # Two rows of counts, each under a heading saying what it counts: "Failed" (the runtime
    # status) and "failed" (the app's outcome) are told apart.
    assert _text(page, "#status-cards h2").startswith("Runtime status")
    assert _text(page, "#outcome-cards h2").startswith("Outcome")
    assert page.locator("#status-cards #count-status-Failed").count() == 1
    assert page.locator("#outcome-cards #count-outcome-failed").count() == 1
    assert page.locator("#outcome-cards #count-status-Failed").count() == 0
    failures = _text(page, "#latest-failures")
    assert "locked/" in failures and "database is locked" in failures
    assert "done (100%)" in _text(page, "#backlog")
    _dates_are_iso_utc(page, "#latest-failures", at_least=FAILED)
    _dates_are_iso_utc(page, "#footer")
    # The one blob the trigger passed over (SKIPPED_NAME), by reason, on its own card; its
    # record is written after the function ran, so it may take one more refresh.
    expect(page.locator("#count-skipped .n")).to_have_text("1", timeout=30_000)
    assert "not a .jpg, .jpeg, .png or .gif: 1" in _text(page, "#count-skipped .reasons")
    assert "skipped by the blob trigger" in _text(page, "#count-skipped")
    _shot(page, "monitor-overview.png")


def test_the_throughput_chart_has_a_time_axis_and_a_count_axis(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub))
    page.wait_for_selector("#throughput-chart rect")
    y_ticks = [
        int(t) for t in page.locator("#throughput-chart .y-axis text.tick").all_text_contents()
    ]
    assert len(y_ticks) >= 2 and y_ticks[0] == 0 and y_ticks == sorted(y_ticks)
    peak = int(re.findall(r"peak (\d+)", _text(page, "#throughput"))[0])
    assert peak > 0 and y_ticks[-1] >= peak  # the count axis reaches the tallest bar
    x_ticks = page.locator("#throughput-chart .x-axis text.tick").all_text_contents()
    assert len(x_ticks) >= 2 and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in x_ticks)
    assert len(set(x_ticks)) == len(x_ticks)  # time moves along the axis
    titles = page.locator("#throughput-chart text.axis-title").all_text_contents()
    assert any(t.startswith("finished / ") for t in titles)
    assert any(t.startswith("time (UTC), from ") and DATE.search(t) for t in titles)
    if SHOTS:
        page.locator("#throughput").screenshot(path=str(Path(SHOTS) / "monitor-chart.png"))


def test_a_loading_state_until_the_first_reply(hub: Hub, page: Any) -> None:
    held = _Held(page, "**/monitor/api/overview*")
    page.goto(monitor(hub))
    expect(page.locator("#loading")).to_be_visible()
    expect(page.locator("#view")).to_contain_text("Loading")
    assert page.locator("#view").get_attribute("aria-busy") == "true"
    _shot(page, "monitor-loading.png")
    held.release()
    page.wait_for_selector("#count-total")
    assert page.locator("#loading").count() == 0


def test_an_unknown_instance_replaces_the_view(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub))
    page.wait_for_selector("#count-total")
    page.evaluate("location.hash = '#instance/no-such-instance'")
    expect(page.locator("#not-found")).to_contain_text("no such instance")
    assert "no-such-instance" in _text(page, "#not-found")
    assert page.locator("#count-total").count() == 0  # nothing of the overview beneath it
    assert page.locator("#message").is_hidden()
    assert "computed in" not in _text(page, "#footer")  # nor its footer
    _shot(page, "monitor-not-found.png")
    # A reply for the view the user left arrives after the move: it is dropped, not drawn.
    held = _Held(page, "**/monitor/api/overview*")
    with page.expect_request("**/monitor/api/overview*"):  # asked for, and held back
        page.evaluate("location.hash = '#overview'")
    page.evaluate("location.hash = '#instance/another-unknown'")
    expect(page.locator("#not-found")).to_contain_text("another-unknown")
    with page.expect_response("**/monitor/api/overview*") as late:
        held.release()
    late.value.finished()
    page.evaluate("() => new Promise(r => setTimeout(r, 0))")  # the page's own handlers ran
    assert page.locator("#count-total").count() == 0
    assert "another-unknown" in _text(page, "#not-found")


def test_cli_status_restart_dry_run_and_the_host_failure_line(hub: Hub) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from devhost.process import REPO_ROOT  # noqa: PLC0415

    env = {**os.environ, "AzureWebJobsStorage": hub.pipeline.azurite.connection_string}
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "devhost", *a], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, check=True, env=env,
    ).stdout  # fmt: skip
    out = run("status", "--outcome", "failed")
    assert "Runtime status" in out and "Outcome" in out and "Reason" in out  # header rows
    assert f"{FAILED} of {FAILED} matching" in out
    for name in hub.failed:
        assert name in out
    assert "database is locked" in out
    expected = _expected(hub)
    assert f"{expected['total']} instance(s)" in out  # hub-wide, not only the rows shown
    out = run("status", "--top", "5")
    assert f"5 of {expected['total']} matching" in out
    out = run("restart-failed", "--url", hub.base_url, "--dry-run")
    assert out.startswith("would restart:") and out.count("locked/") == FAILED  # one row each
    assert f"would restart {FAILED} failed orchestrations" in out
    log = hub.pipeline.devhost.log_tail(1_000_000)
    assert "failed: blob locked/0.png: StoreMetadata: TransientStoreError" in log
    assert "completed: blob corrupt/00.jpg: rejected: " in log


def test_filter_by_status_and_name(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub, "#instances"))
    page.wait_for_selector("#instance-rows tr")
    page.select_option("#f-status", "Failed")
    expect(page.locator("#page-info")).to_contain_text(f"· {FAILED} matching")
    blobs = page.locator("#instance-rows td.subject").all_inner_texts()
    assert sorted(blobs) == sorted(hub.failed)
    page.select_option("#f-status", "")
    page.fill("#f-q", "good/0042")
    page.click("#apply-filters")
    expect(page.locator("#page-info")).to_contain_text("· 1 matching")
    assert page.locator("#instance-rows td.subject").all_inner_texts() == ["good/0042.png"]
    page.fill("#f-q", "")
    page.select_option("#f-outcome", "rejected")
    expect(page.locator("#page-info")).to_contain_text(f"· {REJECTED} matching")
    page.select_option("#f-outcome", "")
    # The created-time range is read as UTC, like every time the page shows.
    created = sorted(str(i["createdTime"]) for i in hub.pipeline.devhost.list_instances())
    newest = datetime.fromisoformat(created[-1].replace("Z", "+00:00"))
    after_all = (newest + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#f-from", after_all)
    page.dispatch_event("#f-from", "change")
    expect(page.locator("#page-info")).to_contain_text("· 0 matching")
    page.fill("#f-from", created[0][:16])  # the oldest instance's minute, in UTC
    page.dispatch_event("#f-from", "change")
    expect(page.locator("#page-info")).to_contain_text(f"· {len(created)} matching")


def test_detail_shows_each_retry_and_a_readable_failure(hub: Hub, page: Any) -> None:
    name = sorted(hub.failed)[0]
    iid = instance_of(hub, name)["instanceId"]
    page.goto(monitor(hub, f"#instance/{iid}"))
    page.wait_for_selector("#timeline .row")
    assert _text(page, "#detail-subject") == name
    store = page.locator("#timeline .row.activity", has_text="StoreMetadata")
    assert store.count() == 5  # STORE_RETRY: 5 attempts
    assert page.locator("#timeline .row.activity[data-ok=false]").count() == 5
    # 4 waits between 5 attempts; then the runtime's zero-length timer after the last one
    # (RetryInterceptor.cs), shown as where the retries ran out, not as "wait 0 ms".
    assert page.locator("#timeline .row.timer").count() == 4
    assert "wait 5.0 s" in _text(page, "#timeline")  # first_retry_interval 5 s
    assert "wait 0 ms" not in _text(page, "#timeline")
    exhausted = page.locator("#timeline .row.exhausted")
    assert exhausted.count() == 1
    assert "StoreMetadata: no retry left after 5 attempts" in exhausted.inner_text()
    labels = page.locator("#timeline .row > span:first-child").all_inner_texts()
    assert labels[-2:] == ["StoreMetadata: no retry left after 5 attempts", "Failed"]
    shown = _dates_are_iso_utc(page, "#detail dl", at_least=2)
    created = str(instance_of(hub, name)["createdTime"])
    assert shown[0] == f"{created[:10]} {created[11:19]} UTC"  # the API's time, in UTC
    failure = _text(page, "#failure pre")
    assert "database is locked" in failure and "Traceback" in failure
    assert "\\n" not in failure  # lines, not a JSON-escaped string
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "monitor-detail.png"), full_page=True)


def test_rows_view_counts_by_format_and_links_to_instances(hub: Hub, page: Any) -> None:
    rows = hub.pipeline.rows()
    page.goto(monitor(hub, "#rows"))
    page.wait_for_selector("#rows-total")
    assert _text(page, "#rows-total .n") == str(len(rows))
    assert _text(page, "#rows-format-PNG .n") == str(sum(r["Format"] == "PNG" for r in rows))
    newest = max((r for r in rows if r["FileName"].startswith("good/")), key=lambda r: r["Id"])
    page.locator("table.rows a", has_text=newest["FileName"]).click()
    expect(page.locator("#page-info")).to_contain_text("· 1 matching")
    assert page.locator("#instance-rows td.subject").all_inner_texts() == [newest["FileName"]]
    _dates_are_iso_utc(page, "#instance-rows", at_least=1)


def test_rows_view_pages_through_every_row(hub: Hub, page: Any) -> None:
    rows = sorted(hub.pipeline.rows(), key=lambda r: r["Id"], reverse=True)
    total = len(rows)
    assert total > 100  # at least three pages of 50
    page.goto(monitor(hub, "#rows"))
    expect(page.locator("#rows-info")).to_have_text(f"rows 1–50 of {total}")
    assert page.locator("#rows-newer").is_disabled()
    names = lambda: page.locator("#rows table.rows tbody tr td:nth-child(2)").all_inner_texts()  # noqa: E731
    assert names() == [r["FileName"] for r in rows[:50]]
    _dates_are_iso_utc(page, "#rows table.rows", at_least=50)
    seen = names()
    while page.locator("#rows-older").is_enabled():
        shown = len(seen)
        page.click("#rows-older")
        last = min(shown + 50, total)
        expect(page.locator("#rows-info")).to_have_text(f"rows {shown + 1}–{last} of {total}")
        seen += names()
        if shown == 50:
            _shot(page, "monitor-rows.png")  # a middle page: both ways open
    assert seen == [r["FileName"] for r in rows]  # every row once, newest first
    page.click("#rows-newer")  # one page back from the last
    back = ((total - 1) // 50 - 1) * 50
    expect(page.locator("#rows-info")).to_have_text(f"rows {back + 1}–{back + 50} of {total}")
    assert names() == [r["FileName"] for r in rows[back : back + 50]]


def test_markup_in_a_blob_name_is_text(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub, "#instances?q=" + urllib.request.quote("<img")))
    expect(page.locator("#page-info")).to_contain_text("· 1 matching")
    assert page.locator("#instance-rows td.subject").all_inner_texts() == [XSS_NAME]
    page.locator("#instance-rows a.subject-link").click()
    page.wait_for_selector("#timeline .row")
    assert _text(page, "#detail-subject") == XSS_NAME
    assert XSS_NAME in _text(page, "#detail-input")
    page.wait_for_selector("#detail-rows table")
    page.wait_for_load_state("networkidle")  # every fetch answered and rendered, not a sleep
    assert page.locator("#view img").count() == 0
    assert page.dialogs == [] and page.errors == []


def _post(url: str, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


class _EvilSite(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="POST" action="{self.target}" enctype="text/plain">'
            "<input name='{\"x\":\"' value='\"}'></form>"
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_cross_site_posts_are_refused(hub: Hub, page: Any) -> None:
    iid = instance_of(hub, sorted(hub.failed)[-1])["instanceId"]
    url = f"{hub.base_url}/monitor/api/instances/{iid}/restart"
    cookie = {"Cookie": f"devhost-monitor-{hub.pipeline.devhost.port}="
              f"{hub.pipeline.devhost.monitor_token}"}  # fmt: skip
    assert _post(url, {"Origin": "http://evil.example", "X-Devhost-Monitor": "1", **cookie}) == 403
    assert _post(url, {"Content-Type": "text/plain", **cookie}) == 403  # no X-Devhost-Monitor
    assert _post(url, {"Content-Type": "text/plain", "X-Devhost-Monitor": "1"}) == 401  # no token
    assert _post(hub.base_url + "/monitor/api/restart-failed", {"Sec-Fetch-Site": "cross-site",
                 "X-Devhost-Monitor": "1"}) == 403  # fmt: skip
    # A real browser on another origin submitting a form at the monitor. It has the cookie,
    # and 127.0.0.1:<other port> is same-site, so SameSite=Strict still sends it: the guard's
    # Sec-Fetch-Site/Origin check is what refuses the POST.
    page.goto(monitor(hub))
    page.wait_for_selector("#count-total")
    _EvilSite.target = url
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EvilSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_url(url)
        assert "cross-site request refused" in page.content()
    finally:
        server.shutdown()
    assert instance_of(hub, sorted(hub.failed)[-1])["runtimeStatus"] == "Failed"


def test_restart_a_failed_instance_from_its_page(hub: Hub, page: Any) -> None:
    name = sorted(hub.failed)[0]
    iid = instance_of(hub, name)["instanceId"]
    page.goto(monitor(hub, f"#instance/{iid}"))
    page.wait_for_selector("#act-restart")
    page.click("#act-restart")
    wait_until(  # the page refreshes itself while the instance runs
        lambda: "Completed" in _text(page, "#detail-status"),
        timeout=60,
        interval=1,
        message=lambda: f"restarted instance shows {_text(page, '#detail-status')!r}",
    )
    assert page.dialogs and page.dialogs[0][0] == "confirm"
    assert _text(page, "#detail-outcome") == "stored"
    page.wait_for_selector("#detail-rows table")
    assert name in _text(page, "#detail-rows")
    assert [r["FileName"] for r in hub.pipeline.rows() if r["FileName"] == name] == [name]


def test_restart_all_failed_lists_them_first(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub))
    page.wait_for_selector("#restart-all-failed")
    page.click("#restart-all-failed")
    page.wait_for_selector("#restart-dialog li")
    listed = page.locator("#restart-dialog li").all_inner_texts()
    assert len(listed) == FAILED - 1  # one was restarted above
    assert all(text.startswith("locked/") for text in listed)
    page.click("#restart-confirm")
    names = set(hub.failed)
    wait_until(
        lambda: all(
            v["runtimeStatus"] == "Completed" for v in hub.pipeline.instances_for(names).values()
        ),
        timeout=90,
        interval=1,
        message="the restarted instances did not all complete",
    )
    assert {r["FileName"] for r in hub.pipeline.rows()} >= names


def test_standalone_monitor_over_the_http_api_agrees(hub: Hub) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from devhost.azurite import free_port  # noqa: PLC0415
    from devhost.process import REPO_ROOT  # noqa: PLC0415

    port = free_port()
    argv = [sys.executable, "-m", "devhost.monitor", "--url", hub.base_url, "--port", str(port),
            "--sql", hub.pipeline.sql]  # fmt: skip
    env = {**os.environ, "DURABLE_SYSTEM_KEY": "unused-locally", "DEVHOST_MONITOR_TOKEN": "tk"}
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, env=env)
    try:

        def overview() -> Any:
            url = f"http://127.0.0.1:{port}/monitor/api/overview?token=tk"
            with urllib.request.urlopen(url) as r:
                return json.loads(r.read())

        remote = wait_until(
            overview,
            timeout=30,
            interval=0.3,
            message="the standalone monitor never answered",
            ignore=(OSError,),  # not listening yet
        )
        token = hub.pipeline.devhost.monitor_token
        with urllib.request.urlopen(f"{hub.base_url}/monitor/api/overview?token={token}") as r:
            local = json.loads(r.read())
        assert remote["byOutcome"] == local["byOutcome"]
        assert remote["byStatus"] == local["byStatus"]
        rows_url = f"http://127.0.0.1:{port}/monitor/api/rows?limit=5&token=tk"
        with urllib.request.urlopen(rows_url) as r:
            rows = json.loads(r.read())
        assert rows["total"] == local["byOutcome"]["stored"] + local["byOutcome"]["duplicate"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_admin_host_status_and_manual_run(hub: Hub) -> None:
    with urllib.request.urlopen(hub.base_url + "/admin/host/status") as r:
        status = json.loads(r.read())
    assert status["state"] == "Running" and status["id"] and status["version"]
    assert isinstance(status["processUptime"], int) and status["processUptime"] > 0
    headers = {"Content-Type": "application/json"}
    assert _post(hub.base_url + "/admin/functions/NoSuchFunction", headers) == 404
    req = urllib.request.Request(
        hub.base_url + "/admin/functions/BlobTriggerClient",
        data=json.dumps({"input": "images-input/good/0001.png"}).encode(),
        method="POST",
        headers=headers,
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202
    wait_until(
        lambda: hub.pipeline.devhost.log_tail(100000).count("images-input/good/0001.png") >= 2,
        timeout=30,
        interval=0.5,
        message="the manual run did not happen",
    )
