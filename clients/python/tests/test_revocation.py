"""Revocation: effective on the next request with the cache off; with the
cache on, never later than the server's X-Relay-Cache-Max-Age."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from relayauth import RelayAuth
from relayserver import RelayServer
from testapp import Recording, client_for

pytestmark = pytest.mark.anyio


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_effective_on_next_request(relay: RelayServer) -> None:
    t = relay.mint("lo", "acme")
    async with client_for(RelayAuth(relay.url)) as c:
        assert (await c.get("/me", headers=bearer(t.access_token))).status_code == 200
        relay.logout(t.access_token)
        r = await c.get("/me", headers=bearer(t.access_token))
        assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]


async def test_api_key_delete_effective_on_next_request(relay: RelayServer) -> None:
    k = relay.create_api_key("acme", scopes=["orders:read"])
    async with client_for(RelayAuth(relay.url)) as c:
        assert (await c.get("/me", headers={"X-API-Key": k.key})).status_code == 200
        relay.delete_api_key(k.id)
        assert (await c.get("/me", headers={"X-API-Key": k.key})).status_code == 401


async def _revoked_within(c: httpx.AsyncClient, headers: dict[str, str], started: float, bound: float) -> float:
    """Poll until the app refuses; returns when, relative to ``started``."""
    while True:
        r = await c.get("/me", headers=headers)
        elapsed = time.monotonic() - started
        if r.status_code == 401:
            return elapsed
        assert r.status_code == 200
        assert elapsed < bound + 0.5, f"still accepted {elapsed:.2f}s after the server's answer; bound {bound}s"
        await anyio.sleep(0.05)


@pytest.mark.parametrize("kind", ["logout", "api_key_delete"])
async def test_cache_entry_never_outlives_server_max_age(relay_sla1: RelayServer, kind: str) -> None:
    """cache_ttl 30 s, but the server (REVOCATION_SLA=1s) says max-age 1."""
    rec = Recording()
    if kind == "logout":
        t = relay_sla1.mint("c1", "acme")
        headers = bearer(t.access_token)
    else:
        k = relay_sla1.create_api_key("acme", scopes=["orders:read"])
        headers = {"X-API-Key": k.key}
    # cache_ttl above the SLA is refused outside development; here it shows
    # that the server's max-age bounds the entry whatever the setting.
    async with client_for(RelayAuth(relay_sla1.url, cache_ttl=30, environment="development", transport=rec)) as c:
        started = time.monotonic()
        r = await c.get("/me", headers=headers)
        assert r.status_code == 200
        max_age = int(await _max_age(relay_sla1, headers))
        assert max_age == 1
        if kind == "logout":
            relay_sla1.logout(t.access_token)
        else:
            relay_sla1.delete_api_key(k.id)
        # The cache is on: the revoked credential may still pass, from the cache...
        r = await c.get("/me", headers=headers)
        calls = len(rec.requests)
        if r.status_code == 200:
            assert calls == 1, "a 200 after revocation can only come from the cache"
        # ...but never for longer than the server allowed.
        elapsed = await _revoked_within(c, headers, started, bound=max_age)
        assert elapsed <= max_age + 0.5


async def test_cache_ttl_shorter_than_max_age_wins(relay: RelayServer) -> None:
    """Server max-age 5 (default SLA), cache_ttl 0.5: the entry lives 0.5 s."""
    t = relay.mint("c2", "acme")
    rec = Recording()
    async with client_for(RelayAuth(relay.url, cache_ttl=0.5, transport=rec)) as c:
        started = time.monotonic()
        assert (await c.get("/me", headers=bearer(t.access_token))).status_code == 200
        assert (await c.get("/me", headers=bearer(t.access_token))).status_code == 200
        assert len(rec.requests) == 1  # the second came from the cache
        relay.logout(t.access_token)
        elapsed = await _revoked_within(c, bearer(t.access_token), started, bound=0.5)
        assert elapsed <= 1.0


async def _max_age(relay: RelayServer, headers: dict[str, str]) -> str:
    """What the server itself says (asked directly, not through the package)."""
    async with httpx.AsyncClient() as c:
        r = await c.get(relay.url + "/auth/forward", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.headers["x-relay-cache-max-age"]
