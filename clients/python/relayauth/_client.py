"""The forward-auth client: asks the Relay Auth server about one credential
over one pooled ``httpx.AsyncClient``, with an optional, bounded cache.

Every answer that is not a clear yes or a clear no of the server is a 503:
the client fails closed and never lets a request through on a doubt.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict

import httpx
from fastapi import HTTPException

from ._principal import Method, Principal
from ._settings import check_settings, raise_for_problems

log = logging.getLogger("relayauth")

#: The longest credential header value the server reads (Go's
#: ``httpauth.MaxCredentialLen``); a longer one is refused here, unsent.
MAX_CREDENTIAL_LEN = 8 << 10
_MAX_REQUEST_ID_LEN = 200

REALM = "relayauth"
CHALLENGE = f'Bearer realm="{REALM}"'
CHALLENGE_INVALID_TOKEN = f'{CHALLENGE}, error="invalid_token"'
CHALLENGE_INVALID_REQUEST = f'{CHALLENGE}, error="invalid_request"'
CHALLENGE_INSUFFICIENT_SCOPE = f'{CHALLENGE}, error="insufficient_scope"'

# A header value we pass on: visible ASCII, inner spaces, no surrounding
# whitespace. Anything else could not be a valid credential, and the HTTP
# library would refuse to send it (a 500 otherwise).
_SENDABLE = re.compile(rb"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")
_SECONDS = re.compile(r"[0-9]{1,12}\Z")

_RELAY_HEADERS = (
    "x-relay-subject", "x-relay-tenant", "x-relay-roles", "x-relay-scopes",
    "x-relay-session-id", "x-relay-auth-method", "x-relay-cache-max-age",
)

_DETAILS = {
    400: "malformed credentials: send exactly one Authorization: Bearer <token> or X-API-Key header",
    401: "invalid or missing credentials",
    403: "forbidden",
    404: "Not Found",
    503: "authentication is unavailable; retry shortly",
}


class AuthError(HTTPException):
    """An authentication or authorization refusal. FastAPI answers it like
    any ``HTTPException``: ``{"detail": "..."}``, with its headers. The
    detail is one of a few fixed texts: it never carries the credential."""

    def __init__(self, status: int, detail: str | None = None, challenge: str | None = None) -> None:
        headers: dict[str, str] = {}
        if challenge:
            headers["WWW-Authenticate"] = challenge
        if status == 503:
            headers["Retry-After"] = "1"
        super().__init__(status, detail or _DETAILS.get(status, "error"), headers or None)


def unavailable() -> AuthError:
    return AuthError(503)


class _Malformed(Exception):
    """The server's 200 is not a complete forward-auth answer."""


class _LRU:
    """At most ``size`` principals, least recently used evicted first, each
    with a monotonic deadline. Keys are SHA-256 digests of the credential
    header, never the credential."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def get(self, key: bytes, now: float) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: bytes, principal: Principal, deadline: float) -> None:
        self._entries[key] = (principal, deadline)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


class ForwardAuthClient:
    """Verifies credentials through ``GET <server_url>/auth/forward``.

    :param server_url: the Relay Auth server, ``scheme://host[:port][/prefix]``.
    :param timeout: seconds for the whole exchange (connect, pool wait,
        write, read); past it the answer is a 503.
    :param max_connections: size of the connection pool (all kept alive).
    :param cache_ttl: seconds a yes may be reused; 0 (the default) turns the
        cache off, so revocation is effective on the next request. An entry
        never outlives the server's ``X-Relay-Cache-Max-Age``.
    :param cache_size: most entries kept (least recently used evicted).
    :param revocation_sla: the server's ``REVOCATION_SLA``, for the start-up
        check: production refuses a ``cache_ttl`` above it.
    :param environment: ``development``, ``staging`` or ``production``;
        ``None`` reads ``RELAY_ENV`` (unset or unknown: production).
    :param transport: an httpx transport (tests); default: TCP.

    Raises :class:`UnsafeSettingsError` listing every problem at once. The
    HTTP client is made on first use, in the running event loop; close it
    with :meth:`aclose` (e.g. ``app.on_event("shutdown")(auth.aclose)``).
    """

    def __init__(
        self,
        server_url: str,
        *,
        timeout: float = 2.0,
        max_connections: int = 64,
        cache_ttl: float = 0.0,
        cache_size: int = 10_000,
        revocation_sla: float = 5.0,
        environment: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        raise_for_problems(check_settings(
            server_url=server_url, cache_ttl=cache_ttl, cache_size=cache_size, timeout=timeout,
            revocation_sla=revocation_sla, environment=environment))
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError("relayauth: max_connections must be a positive integer")
        self.forward_url = server_url.rstrip("/") + "/auth/forward"
        self.cache_ttl = float(cache_ttl)
        self._timeout = httpx.Timeout(timeout)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                                    keepalive_expiry=30.0)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._cache = _LRU(cache_size)
        self._inflight: dict[bytes, asyncio.Future[tuple[Principal, float]]] = {}

    @property
    def cache_enabled(self) -> bool:
        return self.cache_ttl > 0

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, limits=self._limits, transport=self._transport,
                # Only ever the configured server: no proxy from the
                # environment, no redirect.
                trust_env=False, follow_redirects=False,
                headers={"User-Agent": "relayauth-python/0.1"},
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections and forget the cache. A later call
        to :meth:`verify` opens a new pool."""
        client, self._client = self._client, None
        self._cache.clear()
        if client is not None:
            await client.aclose()

    async def verify(self, header: bytes, value: bytes, request_id: bytes | None = None) -> Principal:
        """The principal of one credential header (``b"authorization"`` or
        ``b"x-api-key"``), passed to the server unchanged. Raises
        :class:`AuthError` (400, 401, 403, 404 as the server said; 503 for
        anything else)."""
        if len(value) > MAX_CREDENTIAL_LEN or not _SENDABLE.match(value):
            raise AuthError(401, challenge=CHALLENGE_INVALID_TOKEN)
        if request_id is not None and (len(request_id) > _MAX_REQUEST_ID_LEN or not _SENDABLE.match(request_id)):
            request_id = None  # not ours to fix; the server audits without it
        if not self.cache_enabled:
            return (await self._ask(header, value, request_id))[0]

        key = hashlib.sha256(header.lower() + b"\0" + value).digest()
        hit = self._cache.get(key, time.monotonic())
        if hit is not None:
            return hit
        # Identical concurrent misses share one request to the server.
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ask_and_store(key, header, value, request_id))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        return (await asyncio.shield(task))[0]

    def _settled(self, key: bytes, task: asyncio.Future[tuple[Principal, float]]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning when every waiter left

    async def _ask_and_store(self, key: bytes, header: bytes, value: bytes,
                             request_id: bytes | None) -> tuple[Principal, float]:
        principal, deadline = await self._ask(header, value, request_id)
        if deadline > time.monotonic():
            self._cache.put(key, principal, deadline)
        return principal, deadline

    async def _ask(self, header: bytes, value: bytes, request_id: bytes | None) -> tuple[Principal, float]:
        """One forward-auth exchange: the principal, and the monotonic
        deadline until which the answer may be reused (counted from when the
        question was sent, so never later than the server allows)."""
        headers = [(header, value)]
        if request_id is not None:
            headers.append((b"x-request-id", request_id))
        sent = time.monotonic()
        try:
            resp = await self._http().get(self.forward_url, headers=headers)
        except httpx.TimeoutException:
            log.warning("relayauth: forward-auth timed out; failing closed")
            raise unavailable() from None
        except Exception as e:  # connection refused, reset, protocol error...: fail closed
            log.warning("relayauth: forward-auth failed (%s); failing closed", type(e).__name__)
            raise unavailable() from None

        status = resp.status_code
        if status == 200:
            try:
                principal, max_age = _parse(resp)
            except _Malformed as e:
                log.error("relayauth: malformed forward-auth answer (%s); failing closed", e)
                raise unavailable() from None
            return principal, sent + min(self.cache_ttl, max_age)
        if status in (400, 401, 403, 404):
            challenge = resp.headers.get("www-authenticate")
            if challenge is not None and (len(challenge) > 256 or not challenge.startswith("Bearer ")
                                          or not _SENDABLE.match(challenge.encode("latin-1", "replace"))):
                challenge = None
            if status == 401 and challenge is None:
                challenge = CHALLENGE
            raise AuthError(status, challenge=challenge)
        log.warning("relayauth: forward-auth answered %d; failing closed", status)
        raise unavailable()


def _parse(resp: httpx.Response) -> tuple[Principal, float]:
    """The principal and the cache max-age of a 200 answer."""
    h: dict[str, str] = {}
    for name in _RELAY_HEADERS:
        values = resp.headers.get_list(name)
        if len(values) != 1:
            raise _Malformed(f"{len(values)} {name} headers, want 1")
        h[name] = values[0].strip()
    method = h["x-relay-auth-method"]
    if method not in ("jwt", "api_key"):
        raise _Malformed("unknown X-Relay-Auth-Method")
    if not h["x-relay-subject"]:
        raise _Malformed("empty X-Relay-Subject")
    if not _SECONDS.match(h["x-relay-cache-max-age"]):
        raise _Malformed("X-Relay-Cache-Max-Age is not whole seconds")
    max_age = float(h["x-relay-cache-max-age"])  # the server bounds it by the credential's expiry
    m: Method = "jwt" if method == "jwt" else "api_key"
    return Principal(
        subject=h["x-relay-subject"],
        tenant=h["x-relay-tenant"],
        roles=tuple(r for r in h["x-relay-roles"].split(" ") if r),
        scopes=tuple(s for s in h["x-relay-scopes"].split(" ") if s),
        session_id=h["x-relay-session-id"] or None,
        method=m,
    ), max_age
