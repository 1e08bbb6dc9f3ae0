"""FastAPI dependencies: the principal, role, scope and tenant checks, and
the environment guard."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Depends, HTTPException, Request

from ._client import (
    CHALLENGE,
    CHALLENGE_INSUFFICIENT_SCOPE,
    CHALLENGE_INVALID_REQUEST,
    AuthError,
    ForwardAuthClient,
)
from ._principal import Principal
from ._settings import DEVELOPMENT, ENV_VAR, STAGING

_CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")

PrincipalDependency = Callable[..., Awaitable[Principal]]


def _must_name(fn: str, kind: str, name: str) -> None:
    """Refuse, at wiring time, a role or scope no credential could carry
    (as Go's ``httpauth.mustName`` panics)."""
    if not (isinstance(name, str) and 0 < len(name) <= 128 and all("\x20" < c < "\x7f" for c in name)):
        raise ValueError(f"relayauth: {fn}: {kind} {name!r} can never match a credential's: "
                         "want 1-128 printable ASCII characters without spaces")


class RelayAuth(ForwardAuthClient):
    """A Relay Auth server seen from a FastAPI app.

    ``Depends(auth.principal)`` authenticates the request; the ``require_*``
    factories add a check and also return the :class:`Principal`. FastAPI
    resolves ``auth.principal`` once per request however many checks a
    route has. Takes the settings of :class:`ForwardAuthClient`.
    """

    async def principal(self, request: Request) -> Principal:
        """The caller, as the server vouches for it now (or as it did at
        most ``min(cache_ttl, server max-age)`` ago with the cache on).

        Exactly one ``Authorization`` or ``X-API-Key`` header is passed on
        unchanged, with ``X-Request-Id``. No credential is a 401; two (both
        kinds, or one twice) a 400. ``X-Relay-*`` request headers are never
        read.
        """
        found: list[tuple[bytes, bytes]] = []
        request_id: bytes | None = None
        for name, value in request.headers.raw:
            lname = name.lower()
            if lname in _CREDENTIAL_HEADERS:
                found.append((lname, value))
            elif lname == b"x-request-id" and request_id is None:
                request_id = value
        if not found:
            raise AuthError(401, "credentials required: send Authorization: Bearer <token> or X-API-Key",
                            challenge=CHALLENGE)
        if len(found) > 1:
            raise AuthError(400, challenge=CHALLENGE_INVALID_REQUEST)
        return await self.verify(found[0][0], found[0][1], request_id)

    def require_roles(self, *roles: str) -> PrincipalDependency:
        """The principal, if it holds any one of ``roles`` (literally: the
        platform admin passes only if ``"admin"`` is listed); 403 otherwise."""
        if not roles:
            raise ValueError("relayauth: require_roles needs at least one role")
        for r in roles:
            _must_name("require_roles", "role", r)
        detail = "one of roles " + ", ".join(roles) + " required"

        async def dependency(principal: Principal = Depends(self.principal)) -> Principal:
            if any(principal.has_role(r) for r in roles):
                return principal
            raise HTTPException(403, detail)

        return dependency

    def require_scopes(self, *scopes: str) -> PrincipalDependency:
        """The principal, if it holds every one of ``scopes`` (platform admins
        hold all); 403 with an ``insufficient_scope`` challenge otherwise."""
        if not scopes:
            raise ValueError("relayauth: require_scopes needs at least one scope")
        for s in scopes:
            _must_name("require_scopes", "scope", s)
        detail = "scopes " + ", ".join(scopes) + " required"

        async def dependency(principal: Principal = Depends(self.principal)) -> Principal:
            if all(principal.has_scope(s) for s in scopes):
                return principal
            raise HTTPException(403, detail, headers={"WWW-Authenticate": CHALLENGE_INSUFFICIENT_SCOPE})

        return dependency

    def require_tenant(self, param: str = "tenant") -> PrincipalDependency:
        """The principal, if the tenant named by path parameter ``param`` is
        its own (platform admins pass any). A mismatch, a missing or empty
        parameter is a 404: another tenant's objects do not exist."""
        if not param:
            raise ValueError("relayauth: require_tenant needs a path parameter name")

        async def dependency(request: Request, principal: Principal = Depends(self.principal)) -> Principal:
            tenant = request.path_params.get(param)
            if isinstance(tenant, str) and principal.in_tenant(tenant):
                return principal
            raise HTTPException(404, "Not Found")

        return dependency


Guard = Callable[[], Awaitable[None]]


def enabled(on: Callable[[], bool]) -> Guard:
    """A dependency that lets a request through only while ``on()`` returns
    ``True`` (asked on every request), and answers 404 ``{"detail": "Not
    Found"}`` otherwise, as if the route did not exist (Go's
    ``httpauth.Enabled``). An exception from ``on`` counts as off.

    Put it first, in the route's ``dependencies=[...]``, so that it answers
    before any authentication does (a 401 would tell the route exists).
    """

    async def guard() -> None:
        try:
            ok = on() is True
        except Exception:
            ok = False
        if not ok:
            raise HTTPException(404, "Not Found")

    return guard


def outside_production(
    environment: Callable[[], str | None] | None = None,
    allow: Iterable[str] = (DEVELOPMENT, STAGING),
) -> Guard:
    """:func:`enabled` for routes that exist only outside production.

    ``environment`` returns the environment's name, read on every request
    (default: the ``RELAY_ENV`` variable). Only the names in ``allow``
    (``development`` and ``staging`` by default) let requests through:
    unset, empty or unknown counts as production.
    """
    allowed = frozenset(allow)
    if not allowed or not allowed <= {DEVELOPMENT, STAGING}:
        raise ValueError("relayauth: outside_production: allow must name development and/or staging")
    read: Callable[[], str | None] = environment or (lambda: os.environ.get(ENV_VAR))

    def on() -> bool:
        value = read()
        return isinstance(value, str) and value.strip() in allowed

    return enabled(on)
