"""devhost/guard's rules, one by one (the attacks on real listeners are in
tests/security/test_listeners.py): which Host names pass, which Origins count as this listener,
the bind refusal, the log limiter (with an injected clock)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from devhost.guard import Policy, check_bind, cross_site_refusal, host_allowed
from devhost.guard.limits import LogLimiter
from devhost.startup import StartupError

LOOPBACK = Policy("devhost", "127.0.0.1", 7071, allowed_hosts=("devbox.example",))
WILDCARD = Policy("devhost", "0.0.0.0", 7071, key="k")
RPC = Policy("durable-rpc", "127.0.0.1", 17071, loopback_clients_only=True)


@pytest.mark.parametrize(
    ("name", "policy", "allowed"),
    [
        ("127.0.0.1", LOOPBACK, True),
        ("127.9.9.9", LOOPBACK, True),
        ("::1", LOOPBACK, True),
        ("localhost", LOOPBACK, True),
        ("app.localhost", LOOPBACK, True),  # browsers resolve *.localhost themselves
        ("devbox.example", LOOPBACK, True),  # configured (--allow-host)
        ("rebind.attacker.test", LOOPBACK, False),
        ("localhost.attacker.test", LOOPBACK, False),
        ("192.168.1.5", LOOPBACK, False),  # not the bound address
        ("", LOOPBACK, False),
        ("192.168.1.5", WILDCARD, True),  # an address cannot be rebound
        ("rebind.attacker.test", WILDCARD, False),
        ("192.168.1.5", RPC, False),
    ],
)
def test_host_allow_list(name: str, policy: Policy, allowed: bool) -> None:
    assert host_allowed(name, policy) is allowed


def _post(headers: dict[str, str]) -> Any:
    return make_mocked_request("POST", "/x", headers={"Host": "127.0.0.1:7071", **headers})


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # the SDK, curl: no Origin, no Sec-Fetch-Site
        ({"Origin": "http://127.0.0.1:7071", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Sec-Fetch-Site": "none"}, False),  # typed into the address bar
        ({"Origin": "http://127.0.0.1:8000"}, True),  # same site, another origin
        ({"Origin": "http://localhost:7071"}, True),  # allowed host, but not this Host
        ({"Origin": "null"}, True),
        ({"Origin": "file://"}, True),
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
    ],
)
def test_cross_site_refusal(headers: dict[str, str], refused: bool) -> None:
    assert (cross_site_refusal(_post(headers), LOOPBACK) is not None) is refused


def test_an_origin_equal_to_a_rebound_host_is_still_refused() -> None:
    req = make_mocked_request("POST", "/x", headers={"Host": "rebind.attacker.test:7071",
                              "Origin": "http://rebind.attacker.test:7071"})  # fmt: skip
    assert cross_site_refusal(req, LOOPBACK) == "Origin is not an allowed host"


def test_bind_refusal() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "k", remedy="set a key")
    with pytest.raises(StartupError, match=r"without a key: .*set a key"):
        check_bind("0.0.0.0", None, remedy="set a key")
    with pytest.raises(StartupError, match="no key of its own and stays on loopback"):
        check_bind("192.168.1.5", None)


def test_the_log_limiter_writes_one_line_a_minute_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    limiter = LogLimiter(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="devhost.guard"):
        for _ in range(500):
            limiter.warn("accept", "accept() failed")
        now[0] += 61
        limiter.warn("accept", "accept() failed")
    assert [r.getMessage() for r in caplog.records] == [
        "accept() failed",
        "accept() failed (499 more since the last such line)",
    ]


def test_the_rpc_listener_refuses_a_peer_that_is_not_on_loopback() -> None:
    # Bound to 127.0.0.1 it never sees one; the check is the second line (a proxy, a bind
    # changed by mistake). tests/security/test_listeners.py checks the bound address.
    from unittest import mock  # noqa: PLC0415

    from devhost.guard.checks import middleware  # noqa: PLC0415
    from devhost.guard.limits import Connections  # noqa: PLC0415

    async def handler(request: Any) -> Any:
        from aiohttp import web  # noqa: PLC0415

        return web.Response(status=200)

    def peer(address: str) -> Any:
        transport = mock.Mock()
        transport.get_extra_info = lambda key, default=None: (
            (address, 40000) if key == "peername" else default
        )
        return make_mocked_request(
            "GET", "/durabletask/instances/", headers={"Host": "127.0.0.1:17071"},
            transport=transport,
        )  # fmt: skip

    guard = middleware(RPC, Connections(RPC))

    async def run() -> tuple[int, int]:
        lan = await guard(peer("192.168.1.5"), handler)
        local = await guard(peer("127.0.0.1"), handler)
        return lan.status, local.status

    assert asyncio.run(run()) == (403, 200)
