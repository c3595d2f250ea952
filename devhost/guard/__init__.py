"""The one guard every HTTP listener the project starts goes through (`GuardedServer`).

What it enforces, per listener (a `Policy`):

- **Bind refusal**: an address other machines can reach needs a key (`check_bind`).
- **Host allow-list** (DNS rebinding): a page on `rebind.attacker.test` whose name is later
  pointed at 127.0.0.1 reaches the listener with that name in `Host`. Allowed: `localhost`
  and `*.localhost`, loopback addresses, the bound address, any IP literal when bound to a
  wildcard address (an address cannot be rebound: a page with that origin is served by us),
  and names configured with `--allow-host` / `DEVHOST_ALLOWED_HOSTS`. Anything else: 403.
- **Cross-site refusal** on every state-changing request (POST, PUT, DELETE, PATCH): a
  `Sec-Fetch-Site` other than `same-origin`/`none` is refused, and an `Origin` must be this
  listener itself (its host allowed *and* equal to `Host`; a rebound page has both equal).
  Clients that send neither (the Durable SDK, curl, urllib) pass. httpTrigger routes
  (`/api/`) are the app's own and keep Azure's behaviour (CORS is the app's business).
- **Monitor token** (`/monitor`, like Jupyter's): a random per-run token printed at start as
  a URL; its first use sets an HttpOnly SameSite=Strict cookie, which every later request
  to /monitor and /monitor/api/* must carry (or the key, when the listener has one).
- **Keys** on the keyed prefixes (401 without `?code=` / `x-functions-key`), except the paths
  Azure serves anonymously under them (`/admin/host/ping`: HostController.Ping has no
  `[Authorize]`).
- **Timeouts**: a connection that has not sent a complete request within `idle_timeout`
  seconds (from connect, or from its previous response) is closed — aiohttp's keep-alive
  timer, which also runs before the first request; a request body that stops arriving for
  `idle_timeout` seconds is cut off.
- **Connection cap**: at `max_connections` open connections (a quarter of the process's file
  descriptor limit by default) a new connection closes the oldest one that is not running a
  request; if every one is busy, the new one is answered 503 and closed. File descriptors
  stay bounded (cap plus one accept batch) and a normal request is still served.
- **Log rate limiting**: refusals, evictions and accept() errors (EMFILE) are logged at most
  once a minute each, with a count of what was suppressed.

Kestrel (the Functions host's server) has the same knobs: RequestHeadersTimeout,
KeepAliveTimeout and MaxConcurrentConnections.
"""

from __future__ import annotations

from devhost.guard.checks import cookie_name, cross_site_refusal, host_allowed
from devhost.guard.policy import (
    MONITOR_PREFIX,
    POLICY_KEY,
    ROLES,
    TOKEN_ENV,
    TOKEN_PARAM,
    MonitorToken,
    Policy,
    check_bind,
    configured_hosts,
)
from devhost.guard.server import GuardedServer

__all__ = [
    "MONITOR_PREFIX",
    "POLICY_KEY",
    "ROLES",
    "TOKEN_ENV",
    "TOKEN_PARAM",
    "GuardedServer",
    "MonitorToken",
    "Policy",
    "check_bind",
    "configured_hosts",
    "cookie_name",
    "cross_site_refusal",
    "host_allowed",
]
