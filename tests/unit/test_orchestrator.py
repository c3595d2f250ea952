"""OrchestratorFunction driven through the real Durable SDK's replay, with the history the
host would send (the same JSON shape devhost and the real extension build)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from OrchestratorFunction import main

REF = {
    "container": "images-input",
    "name": "a.jpg",
    "uri": "u",
    "length": 10,
    "etag": '"0x1"',
    "contentType": "image/jpeg",
    "lastModified": "2026-11-25T10:00:00Z",
}
META = {"FileName": "a.jpg", "Width": 1, "Height": 1, "Format": "JPEG"}
T = "2026-11-25T10:00:0{}.000000Z"


def ev(kind: int, event_id: int = -1, second: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "EventType": kind,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": T.format(second),
        **fields,
    }


def started(second: int = 0) -> dict[str, Any]:
    return ev(12, second=second)


def run(history: list[dict[str, Any]], ref: Any = REF, text: str | None = None) -> dict[str, Any]:
    """One episode through the real SDK; `text` is the input text as the host sends it
    (default: `ref` as JSON)."""
    ctx = {
        "history": history,
        "instanceId": "img-1",
        "input": json.dumps(ref) if text is None else text,
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    return json.loads(main(func.OrchestrationContext(json.dumps(ctx))))


def actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Scheduled actions in order; a with-retry task is a compound holding its attempt."""
    out: list[dict[str, Any]] = []

    def walk(a: dict[str, Any]) -> None:
        if a.get("compoundActions"):
            for child in a["compoundActions"]:
                walk(child)
        else:
            out.append(a)

    for group in state["actions"]:
        for a in group:
            walk(a)
    return out


FIRST = [started(), ev(0, Name="OrchestratorFunction", Input=json.dumps(REF), Version="")]


def test_first_episode_schedules_extract_with_retry() -> None:
    state = run(FIRST)
    assert state["isDone"] is False
    (a,) = actions(state)
    assert a["actionType"] == 1 and a["functionName"] == "ExtractMetadata"
    assert json.loads(a["input"]) == REF
    assert a["retryOptions"]["maxNumberOfAttempts"] >= 2
    assert state["customStatus"] == {"step": "extracting", "blob": "a.jpg"}


def test_happy_path_stores_and_completes() -> None:
    extracted = json.dumps({"rejected": False, "metadata": META})
    history = [
        *FIRST,
        ev(4, 0, Name="ExtractMetadata"),
        started(1),
        ev(5, TaskScheduledId=0, Result=extracted),
        ev(4, 1, Name="StoreMetadata"),
        started(2),
        ev(5, TaskScheduledId=1, Result='"stored"'),
    ]
    state = run(history)
    assert state["isDone"] is True
    assert [a["functionName"] for a in actions(state)] == ["ExtractMetadata", "StoreMetadata"]
    assert json.loads(actions(state)[1]["input"]) == META
    assert state["output"] == {"blob": "a.jpg", "status": "stored", "metadata": META}


def test_rejected_image_completes_without_storing() -> None:
    rejected = json.dumps({"rejected": True, "reason": "empty file (0 bytes)"})
    state = run([*FIRST, started(1), ev(5, TaskScheduledId=0, Result=rejected)])
    assert state["isDone"] is True
    assert [a["functionName"] for a in actions(state)] == ["ExtractMetadata"]
    assert state["output"] == {
        "blob": "a.jpg",
        "status": "rejected",
        "reason": "empty file (0 bytes)",
    }


def test_store_failure_is_retried_after_a_timer() -> None:
    extracted = json.dumps({"rejected": False, "metadata": META})
    history = [
        *FIRST,
        started(1),
        ev(5, TaskScheduledId=0, Result=extracted),
        started(2),
        ev(
            6,
            TaskScheduledId=1,
            Reason="Activity function 'StoreMetadata' failed: locked",
            Details="",
        ),
        started(7),
        ev(11, TimerId=2, FireAt=T.format(7)),
        started(8),
        ev(5, TaskScheduledId=3, Result='"stored"'),
    ]
    state = run(history)
    assert state["isDone"] is True
    assert state["output"]["status"] == "stored"


def test_store_failing_every_attempt_fails_the_orchestration_visibly() -> None:
    extracted = json.dumps({"rejected": False, "metadata": META})
    history = [*FIRST, started(1), ev(5, TaskScheduledId=0, Result=extracted)]
    next_id = 1
    for attempt in range(5):  # STORE_RETRY allows 5 attempts; each failure is followed by a timer
        history += [
            started(2),
            ev(
                6,
                TaskScheduledId=next_id,
                Reason="Activity function 'StoreMetadata' failed: down",
                Details="",
            ),
            started(3),
            ev(11, TimerId=next_id + 1, FireAt=T.format(3)),
        ]
        next_id += 2
        assert attempt < 5
    with pytest.raises(Exception, match=r"StoreMetadata' failed: down") as err:
        run(history)
    assert "$OutOfProcData$" in str(err.value)


# Issue 23: a wrong SqlConnectionString (StoreMetadata answers {"configurationError": ...})
# fails the instance at the first answer, with the reason, instead of five retries (25 s).
def test_store_configuration_error_fails_at_once_with_the_reason() -> None:
    extracted = json.dumps({"rejected": False, "metadata": META})
    reason = "ODBC driver 'SQLite' (Driver= in SqlConnectionString) is not installed"
    history = [
        *FIRST,
        started(1),
        ev(5, TaskScheduledId=0, Result=extracted),
        started(2),
        ev(5, TaskScheduledId=1, Result=json.dumps({"configurationError": reason})),
    ]
    with pytest.raises(Exception, match=r"StoreMetadata: configuration error, not ") as err:
        run(history)
    assert reason in str(err.value)
    state = json.loads(str(err.value).split("$OutOfProcData$:", 1)[1])
    assert [a["functionName"] for a in actions(state)] == ["ExtractMetadata", "StoreMetadata"]
    assert not any(a.get("actionType") == 2 for a in actions(state))  # no retry timer either
    assert state["customStatus"] == {"step": "configuration error", "blob": "a.jpg"}


# Guards issue 12 item 1: a start through the Durable HTTP API with a hand-made input must end
# as a "rejected" outcome before any activity runs (not a crash, not a row).
@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ({**REF, "container": "private-other"}, "not the watched container"),
        ({**REF, "name": "../private-other/secret-doc.png"}, "'..' path segment"),
        ({**REF, "name": "a\\..\\b.png"}, "backslash"),
        ({**REF, "name": "notes.txt"}, "does not end in .jpg"),
        ({**REF, "name": "x" * 2000 + ".png"}, "limit is 1024"),
        ({**REF, "name": "a\u0000b.png"}, "control characters"),
        ({**REF, "length": "999999999"}, "length must be"),
        ({**REF, "length": -1}, "length must be"),
        ({**REF, "length": True}, "length must be"),
        ({**REF, "etag": 'x" onload="'}, "etag is not an ETag"),
        ({**REF, "etag": 7}, "etag must be a string"),
        ({**REF, "lastModified": ["1999"]}, "lastModified must be a string"),
        ({**REF, "extra": 1}, "unexpected fields: extra"),
        ({k: v for k, v in REF.items() if k != "etag"}, "etag must be a string"),
        ("images-input/a.jpg", "must be a JSON object"),
        (None, "must be a JSON object"),
        ([REF], "must be a JSON object"),
    ],
)
def test_invalid_input_is_rejected_without_scheduling_anything(ref: Any, reason: str) -> None:
    state = run(
        [started(), ev(0, Name="OrchestratorFunction", Input=json.dumps(ref), Version="")], ref
    )
    assert state["isDone"] is True
    assert actions(state) == []
    assert state["output"]["status"] == "rejected"
    assert state["output"]["reason"].startswith("invalid orchestration input: ")
    assert reason in state["output"]["reason"]


ENVELOPE = '{{"__class__": "{cls}", "__module__": "{mod}", "__data__": {data}}}'
CONTEXT_MODULE = "azure.durable_functions.models.DurableOrchestrationContext"


# Guards issue 20 item 9: input the SDK's own decoder raises on (azure.functions
# _durable_functions.df_loads: json.loads with the custom-object hook) ended as a Failed
# instance, counted as failed and offered to restart-failed. Each raises in get_input().
@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("x", "JSONDecodeError"),  # the start body "x": hosts store the string as the input
        ("{'single': 'quotes'}", "JSONDecodeError"),
        (ENVELOPE.format(cls="X", mod="no.such.module", data="1"), "ValueError"),
        (ENVELOPE.format(cls="NoSuchClass", mod="json", data="1"), "AttributeError"),
        (ENVELOPE.format(cls="JSONDecoder", mod="json", data="1"), "TypeError"),  # no from_json
        (
            ENVELOPE.format(cls="DurableOrchestrationContext", mod=CONTEXT_MODULE, data='"{}"'),
            "TypeError",  # from_json itself raises
        ),
        ('{"name": ' + ENVELOPE.format(cls="X", mod="nope", data="1") + "}", "ValueError"),
        ("[" * 100_000 + "]" * 100_000, "RecursionError"),
        ("1" * 5_000, "ValueError"),  # past Python's int digit limit
    ],
)
def test_undecodable_input_is_rejected_not_failed(text: str, raised: str) -> None:
    history = [started(), ev(0, Name="OrchestratorFunction", Input=text, Version="")]
    state = run(history, text=text)  # on main: the SDK's exception fails the orchestration
    assert state["isDone"] is True
    assert actions(state) == []
    assert state["output"]["status"] == "rejected"
    assert state["output"]["reason"].startswith("invalid orchestration input: not decodable (")
    assert raised in state["output"]["reason"]
    assert state["output"]["reason"].isprintable() and len(state["output"]["reason"]) < 250


def test_the_activity_gets_the_validated_reference_not_the_raw_input() -> None:
    loose = {"container": "images-input", "name": "b.png", "etag": "0x2"}  # trigger-made minimum
    state = run(
        [started(), ev(0, Name="OrchestratorFunction", Input=json.dumps(loose), Version="")], loose
    )
    (a,) = actions(state)
    sent = json.loads(a["input"])
    assert sent["etag"] == '"0x2"' and sent["length"] == 0 and set(sent) == set(REF)
