"""What one listener enforces (`Policy`), its defaults, and the bind refusal."""

from __future__ import annotations

import os
import resource
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web

from devhost.auth import is_loopback
from devhost.startup import StartupError

# Every kind of listener the project starts; tests/security/test_listeners.py attacks each.
ROLES = ("devhost", "durable-rpc", "monitor")
STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})
MONITOR_PREFIX = "/monitor"
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name
TOKEN_ENV = "DEVHOST_MONITOR_TOKEN"  # noqa: S105 - a variable name
ALLOWED_HOSTS_ENV = "DEVHOST_ALLOWED_HOSTS"
IDLE_TIMEOUT_ENV = "DEVHOST_IDLE_TIMEOUT"
MAX_CONNECTIONS_ENV = "DEVHOST_MAX_CONNECTIONS"
DEFAULT_IDLE_TIMEOUT = 30.0  # Kestrel: RequestHeadersTimeout 30 s
LOG_EVERY = 60.0
WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 - the addresses that mean "every interface"


def check_bind(host: str, key: str | None, *, remedy: str | None = None) -> None:
    """A listener other machines can reach needs a key (what Azure always has). `remedy`
    says how to give one; None means this listener has no key and stays on loopback."""
    if is_loopback(host) or key:
        return
    if remedy is None:
        raise StartupError(
            f"refusing to listen on {host}: this listener has no key of its own and stays on "
            "loopback (reach it from another machine through ssh -L)"
        )
    raise StartupError(
        f"refusing to listen on {host} without a key: anyone who can reach it could start, "
        f"terminate and purge orchestrations; {remedy}, or listen on 127.0.0.1"
    )


def default_max_connections() -> int:
    """A quarter of the file-descriptor limit: the rest stays for storage clients and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 4096
    return max(16, min(1024, soft // 4))


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise StartupError(f"{name}={raw!r} is not a number of seconds") from exc
    if value <= 0:
        raise StartupError(f"{name} must be above 0")
    return value


def configured_hosts(extra: Iterable[str] = ()) -> tuple[str, ...]:
    names = [*extra, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]
    return tuple(sorted({n.strip().lower().rstrip(".") for n in names if n.strip()}))


@dataclass(frozen=True)
class MonitorToken:
    """The monitor page's per-run token (DEVHOST_MONITOR_TOKEN fixes it, for scripts)."""

    value: str
    generated: bool

    @classmethod
    def for_this_run(cls) -> MonitorToken:
        fixed = os.environ.get(TOKEN_ENV, "").strip()
        if fixed:
            return cls(fixed, generated=False)
        return cls(secrets.token_urlsafe(24), generated=True)

    def url(self, base_url: str) -> str:
        """The URL to print at start: with the token when it was generated for this run."""
        if self.generated:
            return f"{base_url}{MONITOR_PREFIX}?{TOKEN_PARAM}={self.value}"
        return f"{base_url}{MONITOR_PREFIX}?{TOKEN_PARAM}=${TOKEN_ENV}"


@dataclass(frozen=True)
class Policy:
    """What one listener enforces. `role` is one of ROLES."""

    role: str
    host: str
    port: int
    key: str | None = None
    key_remedy: str | None = None  # how to give this listener a key (None: it has none)
    keyed_prefixes: tuple[str, ...] = ()
    anonymous_paths: tuple[str, ...] = ()  # under a keyed prefix, yet anonymous in Azure too
    open_prefixes: tuple[str, ...] = ()  # no cross-site check (the app's httpTrigger routes)
    loopback_clients_only: bool = False
    monitor_token: MonitorToken | None = None
    allowed_hosts: tuple[str, ...] = field(default_factory=configured_hosts)
    idle_timeout: float = field(
        default_factory=lambda: _env_float(IDLE_TIMEOUT_ENV, DEFAULT_IDLE_TIMEOUT)
    )
    max_connections: int = field(
        default_factory=lambda: int(
            _env_float(MAX_CONNECTIONS_ENV, float(default_max_connections()))
        )
    )

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown listener role {self.role!r}")


POLICY_KEY: web.AppKey[Policy] = web.AppKey("guard_policy", Policy)
