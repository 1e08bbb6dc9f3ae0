"""The cache: off by default, bounded, keyed by a hash, only for yes
answers, and one in-flight request for identical concurrent misses."""

from __future__ import annotations

import hashlib

import anyio
import httpx
import pytest

from relayauth import RelayAuth
from testapp import client_for

pytestmark = pytest.mark.anyio


class Counting:
    """A mock server: a fixed answer, counting calls."""

    def __init__(self, status: int = 200, max_age: str = "5", delay: float = 0.0) -> None:
        self.calls: list[httpx.Request] = []
        self.status, self.max_age, self.delay = status, max_age, delay

    async def __call__(self, req: httpx.Request) -> httpx.Response:
        self.calls.append(req)
        if self.delay:
            await anyio.sleep(self.delay)
        if self.status != 200:
            return httpx.Response(self.status, headers={"WWW-Authenticate": 'Bearer realm="relayauth"'})
        cred = req.headers.get("authorization", req.headers.get("x-api-key", ""))
        return httpx.Response(200, headers={
            "X-Relay-Subject": cred[-8:], "X-Relay-Tenant": "acme", "X-Relay-Roles": "", "X-Relay-Scopes": "",
            "X-Relay-Session-Id": "s", "X-Relay-Auth-Method": "jwt",
            "X-Relay-Cache-Max-Age": self.max_age})


def auth(server: Counting, **kw: float) -> RelayAuth:
    return RelayAuth("http://127.0.0.1:1", transport=httpx.MockTransport(server), **kw)  # type: ignore[arg-type]


async def test_off_by_default() -> None:
    srv = Counting()
    a = auth(srv)
    assert not a.cache_enabled
    async with client_for(a) as c:
        for _ in range(3):
            assert (await c.get("/me", headers={"Authorization": "Bearer tok"})).status_code == 200
    assert len(srv.calls) == 3


async def test_on_reuses_yes_answers() -> None:
    srv = Counting()
    async with client_for(auth(srv, cache_ttl=5)) as c:
        for _ in range(3):
            assert (await c.get("/me", headers={"Authorization": "Bearer tok"})).status_code == 200
        # The same bytes as another credential header are another entry.
        assert (await c.get("/me", headers={"X-API-Key": "Bearer tok"})).status_code == 200
    assert len(srv.calls) == 2


async def test_server_max_age_zero_is_not_cached() -> None:
    srv = Counting(max_age="0")
    async with client_for(auth(srv, cache_ttl=5)) as c:
        for _ in range(3):
            assert (await c.get("/me", headers={"Authorization": "Bearer tok"})).status_code == 200
    assert len(srv.calls) == 3


async def test_refusals_are_not_cached() -> None:
    srv = Counting(status=401)
    async with client_for(auth(srv, cache_ttl=5)) as c:
        for _ in range(3):
            assert (await c.get("/me", headers={"Authorization": "Bearer tok"})).status_code == 401
    assert len(srv.calls) == 3


async def test_bounded_lru() -> None:
    srv = Counting()
    a = auth(srv, cache_ttl=5, cache_size=2)
    async with client_for(a) as c:
        for tok in ("t1", "t2", "t1", "t3"):  # t3 evicts t2, the least recently used
            assert (await c.get("/me", headers={"Authorization": f"Bearer {tok}"})).status_code == 200
        assert len(a._cache) == 2
        assert len(srv.calls) == 3
        assert (await c.get("/me", headers={"Authorization": "Bearer t1"})).status_code == 200
        assert len(srv.calls) == 3
        assert (await c.get("/me", headers={"Authorization": "Bearer t2"})).status_code == 200
        assert len(srv.calls) == 4


async def test_keys_are_hashes_never_the_credential() -> None:
    srv = Counting()
    a = auth(srv, cache_ttl=5)
    secret = "Bearer super-secret-token-value"
    async with client_for(a) as c:
        assert (await c.get("/me", headers={"Authorization": secret})).status_code == 200
        keys = list(a._cache._entries)
    assert keys == [hashlib.sha256(b"authorization\0" + secret.encode()).digest()]
    assert b"super-secret" not in b"".join(keys)


async def test_concurrent_identical_misses_share_one_request() -> None:
    srv = Counting(delay=0.2)
    async with client_for(auth(srv, cache_ttl=5)) as c:
        results: list[int] = []

        async def one(tok: str) -> None:
            results.append((await c.get("/me", headers={"Authorization": f"Bearer {tok}"})).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one, "same")
            tg.start_soon(one, "other")
    assert results == [200] * 11
    assert len(srv.calls) == 2


async def test_shared_failure_reaches_every_waiter() -> None:
    srv = Counting(status=503, delay=0.1)
    async with client_for(auth(srv, cache_ttl=5)) as c:
        results: list[int] = []

        async def one() -> None:
            results.append((await c.get("/me", headers={"Authorization": "Bearer same"})).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
    assert results == [503] * 5 and len(srv.calls) == 1
