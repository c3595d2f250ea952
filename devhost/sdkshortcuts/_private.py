"""The only lines of devhost that touch Azure SDK internals, and how a shortcut's request travels.

A shortcut builds the same request the public call would (URL, query, headers, body) and sends
it one of two ways:

- **direct** (the default): on the SDK client's own aiohttp session (same connection pool, same
  connect/read timeouts), authorised by an account SAS made once from the client's own shared
  key with the SDK's public `generate_account_sas`. No policy runs: no per-request signing,
  request id, User-Agent, tracing decorator or logging policy; a py-spy profile of the queued
  pipeline had 30% of devhost's CPU in those policies, against 12% in aiohttp itself.
- **pipeline**: through the client's own pipeline (`send_request`), for a client whose
  credential is not a shared key (a SAS or token credential) or whose session is not open yet.

Retries are the public call's: a shortcut that failed, for whatever reason, is followed by the
public call (see the package's docstring).
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import re
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.storage.blob import generate_account_sas
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

log = logging.getLogger("devhost.sdkshortcuts")

# The versions the shortcuts were written against (requirements.txt, requirements-devhost.txt).
PINNED = {
    "azure-data-tables": "12.7.0",
    "azure-storage-blob": "12.31.1",
    "azure-storage-queue": "12.18.1",
}


def versions_match(pins: Mapping[str, str]) -> bool:
    """True when every distribution is installed at exactly its pinned version."""
    try:
        return all(importlib.metadata.version(d) == v for d, v in pins.items())
    except importlib.metadata.PackageNotFoundError:
        return False


try:
    from azure.data.tables._deserialize import _convert_to_entity
    from azure.data.tables._serialize import _add_entity_properties

    _SERIALIZER = True
except ImportError:  # pragma: no cover - only with another azure-data-tables
    _SERIALIZER = False

# Read at each call, so a test can turn a shortcut (or the direct send) off.
TABLES_SHORTCUT = _SERIALIZER and versions_match({"azure-data-tables": PINNED["azure-data-tables"]})
BLOBS_SHORTCUT = versions_match({"azure-storage-blob": PINNED["azure-storage-blob"]})
QUEUES_SHORTCUT = versions_match({"azure-storage-queue": PINNED["azure-storage-queue"]})
DIRECT = True

_warned: set[str] = set()
_SIG = re.compile(r"sig=[^&\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """A direct request's URL carries the SAS; an exception that quotes it must not log it."""
    return _SIG.sub("sig=REDACTED", text)


def fell_back(what: str, exc: Exception) -> None:
    """Warn once per shortcut that broke (it would otherwise log on every call); a service
    error is not a broken shortcut: the public call reports it."""
    broken = not isinstance(exc, HttpResponseError) and what not in _warned
    level = logging.WARNING if broken else logging.DEBUG
    if broken:
        _warned.add(what)
    log.log(level, "%s shortcut failed (%s); using the public SDK call", what, redact(repr(exc)))


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


# --- how a request travels --------------------------------------------------------------------

_SAS_LIFETIME = timedelta(hours=24)
_SAS_RENEW = 12 * 3600.0  # seconds; a SAS is renewed long before it expires
_sas_cache: dict[tuple[str, str], tuple[str, float]] = {}


def _shared_key(client: Any) -> tuple[str, str] | None:
    """(account, key) of a client built from a shared key, else None."""
    cred = client.credential
    named = getattr(cred, "named_key", None)  # azure-data-tables: AzureNamedKeyCredential
    if named is not None:
        return str(named.name), str(named.key)
    name, key = getattr(cred, "account_name", None), getattr(cred, "account_key", None)
    if isinstance(name, str) and isinstance(key, str):  # blob/queue: SharedKeyCredentialPolicy
        return name, key
    return None


def account_sas(account: str, key: str) -> str:
    """One account SAS per key (all three services, the permissions the host's requests need)."""
    now = time.time()
    cached = _sas_cache.get((account, key))
    if cached is not None and now < cached[1]:
        return cached[0]
    sas = generate_account_sas(
        account,
        key,
        resource_types="sco",
        permission="rwdlacup",
        expiry=datetime.now(UTC) + _SAS_LIFETIME,
        services="bqt",
    )
    _sas_cache[(account, key)] = (sas, now + _SAS_RENEW)
    return sas


def _transport(client: Any) -> Any:
    transport = client._client._client._pipeline._transport
    while not hasattr(transport, "session") and hasattr(transport, "_transport"):
        transport = transport._transport  # the storage SDKs' AsyncTransportWrapper
    return transport


@dataclass(frozen=True)
class _Route:
    session: aiohttp.ClientSession
    sas: str
    timeout: aiohttp.ClientTimeout
    renew_at: float


_routes: weakref.WeakKeyDictionary[Any, _Route] = weakref.WeakKeyDictionary()
_urls: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


# Services that refused a direct request's SAS (403): a storage account that does not take
# account SASes (or not this version) gets the SDK's Shared Key signing, through the pipeline.
_refused: set[str] = set()


def _direct_route(client: Any) -> _Route | None:
    """The client's session and SAS, worked out once per client (and again when the session
    was closed or the SAS is due for renewal)."""
    if _refused and urlsplit(url_of(client)).netloc in _refused:
        return None
    route = _routes.get(client)
    if route is not None and not route.session.closed and time.time() < route.renew_at:
        return route
    key = _shared_key(client)
    transport = _transport(client)
    session = getattr(transport, "session", None)
    if key is None or not isinstance(session, aiohttp.ClientSession) or session.closed:
        return None
    config = transport.connection_config
    timeout = aiohttp.ClientTimeout(sock_connect=config.timeout, sock_read=config.read_timeout)
    _routes[client] = route = _Route(session, account_sas(*key), timeout, time.time() + 3600)
    return route


def url_of(client: Any) -> str:
    """`client.url`, which the SDK formats again on every read."""
    url = _urls.get(client)
    if url is None:
        url = _urls[client] = str(client.url)
    return url


@dataclass(frozen=True)
class Request:
    """A shortcut's request: azure.core's HttpRequest costs more to build than to send."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None


async def _through_pipeline(client: Any, request: Request) -> Reply:
    # stream=True: the pipeline's content decoder would reject a multipart body
    sdk_request = HttpRequest(
        request.method, request.url, headers=dict(request.headers), content=request.content
    )
    response = await client._client._client.send_request(sdk_request, stream=True)
    return Reply(response.status_code, response.headers, await response.read())


async def send(client: Any, request: Request) -> Reply:
    """Send a shortcut's request (direct when it can, else through the client's pipeline)."""
    route = _direct_route(client) if DIRECT else None
    if route is None:
        return await _through_pipeline(client, request)
    url = f"{request.url}{'&' if '?' in request.url else '?'}{route.sas}"
    async with route.session.request(
        request.method,
        url,
        headers=request.headers,
        data=request.content,
        allow_redirects=False,
        timeout=route.timeout,
    ) as r:
        reply = Reply(r.status, r.headers, await r.read())
    if reply.status != 403:
        return reply
    # Refused before anything ran: sent again, signed by the SDK, and never direct again.
    service = urlsplit(request.url).netloc
    _refused.add(service)
    log.warning("%s refused devhost's account SAS (403); using the SDK's signing", service)
    return await _through_pipeline(client, request)


def table_base_url(table: Any) -> str:
    return f"{table.scheme}://{table._primary_hostname}"  # the URL the SDK itself uses


# --- serialisation the SDK does privately -----------------------------------------------------


def entity_json(entity: Mapping[str, Any]) -> str:
    return json.dumps(_add_entity_properties(entity))


def entity_from_json(body: bytes) -> Mapping[str, Any]:
    """A Query Entity reply as `get_entity` returns it (TableEntity with typed values, metadata)."""
    entity: Mapping[str, Any] = _convert_to_entity(json.loads(body))  # type: ignore[no-untyped-call]
    return entity


Codec = tuple[Callable[[Any], str], Callable[[str], Any]]


def _identity(value: Any) -> Any:
    return value


def _b64_text(value: Any) -> str:
    return base64.b64encode(value.encode("utf-8")).decode()  # str only, as the policy


def _b64_bytes(value: Any) -> str:
    return base64.b64encode(value).decode()


# The SDK's public policies, matched by exact type (a subclass may do anything).
_ENCODE: dict[type, Callable[[Any], str]] = {
    BinaryBase64EncodePolicy: _b64_bytes,
    TextBase64EncodePolicy: _b64_text,
}
_DECODE: dict[type, Callable[[str], Any]] = {
    BinaryBase64DecodePolicy: base64.b64decode,
    TextBase64DecodePolicy: lambda text: base64.b64decode(text).decode("utf-8"),
}


def queue_codec(queue: Any) -> Codec | None:
    """How the client's policies turn message content into wire text and back, or None when
    they are not the SDK's plain or base64 ones, or the client encrypts."""
    if queue.key_encryption_key is not None or queue.key_resolver_function is not None:
        return None
    enc, dec = type(queue._message_encode_policy), type(queue._message_decode_policy)
    encode = _identity if enc.__name__ == "NoEncodePolicy" else _ENCODE.get(enc)
    decode = _identity if dec.__name__ == "NoDecodePolicy" else _DECODE.get(dec)
    if encode is None or decode is None:
        return None
    return encode, decode
