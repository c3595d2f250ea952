"""The monitor page in a real browser (Debian's chromium driven by Playwright) against the real
app under devhost: counts, filters, the retry timeline, restart, escaping, cross-site POSTs."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
    failures = _text(page, "#latest-failures")
    assert "locked/" in failures and "database is locked" in failures
    assert "done (100%)" in _text(page, "#backlog")
    # The one blob the trigger passed over (SKIPPED_NAME), by reason, on its own card; its
    # record is written after the function ran, so it may take one more refresh.
    expect(page.locator("#count-skipped .n")).to_have_text("1", timeout=30_000)
    assert "not a .jpg, .jpeg, .png or .gif: 1" in _text(page, "#count-skipped .reasons")
    assert "skipped by the blob trigger" in _text(page, "#count-skipped")
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "monitor-overview.png"), full_page=True)


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


def test_detail_shows_each_retry_and_a_readable_failure(hub: Hub, page: Any) -> None:
    name = sorted(hub.failed)[0]
    iid = instance_of(hub, name)["instanceId"]
    page.goto(monitor(hub, f"#instance/{iid}"))
    page.wait_for_selector("#timeline .row")
    assert _text(page, "#detail-subject") == name
    store = page.locator("#timeline .row.activity", has_text="StoreMetadata")
    assert store.count() == 5  # STORE_RETRY: 5 attempts
    assert page.locator("#timeline .row.activity[data-ok=false]").count() == 5
    assert page.locator("#timeline .row.timer").count() >= 4
    assert "wait 5.0 s" in _text(page, "#timeline")  # first_retry_interval 5 s
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


def test_markup_in_a_blob_name_is_text(hub: Hub, page: Any) -> None:
    page.goto(monitor(hub, "#instances?q=" + urllib.request.quote("<img")))
    expect(page.locator("#page-info")).to_contain_text("· 1 matching")
    assert page.locator("#instance-rows td.subject").all_inner_texts() == [XSS_NAME]
    page.locator("#instance-rows a.subject-link").click()
    page.wait_for_selector("#timeline .row")
    assert _text(page, "#detail-subject") == XSS_NAME
    assert XSS_NAME in _text(page, "#detail-input")
    page.wait_for_selector("#detail-rows table")
    time.sleep(0.5)
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
