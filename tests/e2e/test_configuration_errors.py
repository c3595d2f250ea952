"""A wrong SqlConnectionString under devhost: the instance fails at once, with the reason."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from devhost.monitor.payloads import failure_reason
from tests.harness import Pipeline, image_bytes

WRONG_DRIVER = "Driver={No Such Driver};Database=nowhere.db"


# Issue 23 item 2: "a bad SqlConnectionString driver is a configuration error but is retried
# 5 times (25 s) before the instance fails". Now StoreMetadata runs once and the instance fails
# with the driver named; no retry timer is scheduled.
def test_wrong_odbc_driver_fails_the_instance_without_retries(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory(sql=WRONG_DRIVER)
    etag = p.upload("photo.jpg", image_bytes("JPEG", (64, 48)))
    (inst,) = p.wait_terminal({("photo.jpg", etag)}, timeout=60).values()
    assert inst["runtimeStatus"] == "Failed"
    reason = failure_reason(inst["output"])
    assert reason.startswith("StoreMetadata: configuration error, not retried: "), reason
    assert "ODBC driver 'No Such Driver' (Driver= in SqlConnectionString)" in reason
    iid = quote(inst["instanceId"], safe="")
    status = p.devhost.get_json(f"/runtime/webhooks/durabletask/instances/{iid}?showHistory=true")
    events = status["historyEvents"]
    scheduled = [e.get("FunctionName") for e in events if e["EventType"] == "TaskCompleted"]
    assert scheduled.count("StoreMetadata") == 1, events
    assert not [e for e in events if e["EventType"] == "TimerFired"], events
