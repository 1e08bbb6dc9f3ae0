"""Fail closed: whatever is not a clear answer of the server is a 503,
never a 200 and never a 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from relayauth import RelayAuth
from relayserver import RelayServer
from testapp import client_for

pytestmark = pytest.mark.anyio


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": "authentication is unavailable; retry shortly"}
    assert r.headers["retry-after"] == "1"


async def test_server_stopped_mid_test(private_relay: RelayServer) -> None:
    t = private_relay.mint("s", "acme")
    k = private_relay.create_api_key("acme", scopes=["orders:read"])
    async with client_for(RelayAuth(private_relay.url)) as c:
        assert (await c.get("/me", headers={"Authorization": f"Bearer {t.access_token}"})).status_code == 200
        assert (await c.get("/me", headers={"X-API-Key": k.key})).status_code == 200
        private_relay.stop()
        for path in ("/me", "/orders", "/tenants/acme/orders", "/editors"):
            assert_unavailable(await c.get(path, headers={"Authorization": f"Bearer {t.access_token}"}))
            assert_unavailable(await c.get(path, headers={"X-API-Key": k.key}))
        # Routes without the dependency still serve.
        assert (await c.get("/plain")).status_code == 200


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield s.getsockname()[1]
    s.close()


async def test_timeout(silent_port: int) -> None:
    async with client_for(RelayAuth(f"http://127.0.0.1:{silent_port}", timeout=0.3)) as c:
        started = time.monotonic()
        assert_unavailable(await c.get("/me", headers={"Authorization": "Bearer abc"}))
        assert time.monotonic() - started < 2


async def test_connection_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    async with client_for(RelayAuth(f"http://127.0.0.1:{port}")) as c:
        assert_unavailable(await c.get("/me", headers={"X-API-Key": "abc"}))


GOOD = {
    "X-Relay-Subject": "alice", "X-Relay-Tenant": "acme", "X-Relay-Roles": "editor",
    "X-Relay-Scopes": "orders:read orders:write", "X-Relay-Session-Id": "sid", "X-Relay-Auth-Method": "jwt",
    "X-Relay-Cache-Max-Age": "5",
}


def mock(status: int, headers: dict[str, str] | list[tuple[str, str]]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda _req: httpx.Response(status, headers=headers))


async def test_well_formed_mock_answer_passes() -> None:
    async with client_for(RelayAuth("http://127.0.0.1:1", transport=mock(200, GOOD))) as c:
        r = await c.get("/me", headers={"Authorization": "Bearer abc"})
    assert r.status_code == 200 and r.json()["scopes"] == ["orders:read", "orders:write"]


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in GOOD.items() if k != name}


MALFORMED: list[tuple[str, int, dict[str, str] | list[tuple[str, str]]]] = [
    *[(f"missing {h}", 200, _without(h)) for h in GOOD],
    ("no headers at all", 200, {}),
    ("unknown method", 200, {**GOOD, "X-Relay-Auth-Method": "password"}),
    ("empty subject", 200, {**GOOD, "X-Relay-Subject": ""}),
    ("negative max-age", 200, {**GOOD, "X-Relay-Cache-Max-Age": "-1"}),
    ("fractional max-age", 200, {**GOOD, "X-Relay-Cache-Max-Age": "1.5"}),
    ("duplicate subject", 200, [*GOOD.items(), ("X-Relay-Subject", "admin")]),
    ("duplicate roles", 200, [*GOOD.items(), ("X-Relay-Roles", "admin")]),
    ("redirect", 302, {"Location": "http://elsewhere/"}),
    ("no content", 204, GOOD),
    ("server error", 500, {}),
    ("teapot", 418, {}),
    ("throttled", 429, {"Retry-After": "5"}),
    ("unavailable", 503, {"Retry-After": "1"}),
]


@pytest.mark.parametrize("status,headers", [(s, h) for _, s, h in MALFORMED], ids=[n for n, _, _ in MALFORMED])
async def test_unexpected_answers_fail_closed(status: int, headers: dict[str, str]) -> None:
    for ttl in (0, 5):
        async with client_for(RelayAuth("http://127.0.0.1:1", transport=mock(status, headers), cache_ttl=ttl)) as c:
            assert_unavailable(await c.get("/me", headers={"Authorization": "Bearer abc"}))


@pytest.mark.parametrize("status,challenge,want", [
    (401, 'Bearer realm="relayauth", error="invalid_token"', 'Bearer realm="relayauth", error="invalid_token"'),
    (401, None, 'Bearer realm="relayauth"'),
    (401, "Basic realm=x\r\nSet-Cookie: a=b", 'Bearer realm="relayauth"'),
    (400, 'Bearer realm="relayauth", error="invalid_request"', 'Bearer realm="relayauth", error="invalid_request"'),
    (403, 'Bearer realm="relayauth", error="insufficient_scope"',
     'Bearer realm="relayauth", error="insufficient_scope"'),
    (403, None, None),
    (404, None, None),
])
async def test_refusals_mapped(status: int, challenge: str | None, want: str | None) -> None:
    headers = {"WWW-Authenticate": challenge} if challenge else {}

    def handler(_req: httpx.Request) -> httpx.Response:
        resp = httpx.Response(status, json={"detail": "secret-ish server text"})
        if challenge:
            resp.headers["WWW-Authenticate"] = challenge.replace("\r\n", " ")
        return resp

    del headers
    async with client_for(RelayAuth("http://127.0.0.1:1", transport=httpx.MockTransport(handler))) as c:
        r = await c.get("/me", headers={"Authorization": "Bearer abc"})
    assert r.status_code == status
    assert set(r.json()) == {"detail"}
    assert r.headers.get("www-authenticate") == want


async def test_transport_exceptions_fail_closed() -> None:
    errors: list[Callable[[], Exception]] = [
        lambda: httpx.ConnectError("refused"), lambda: httpx.ReadTimeout("slow"),
        lambda: httpx.RemoteProtocolError("garbage"), lambda: RuntimeError("bug in a transport"),
    ]
    for make in errors:
        def handler(_req: httpx.Request, make: Callable[[], Exception] = make) -> httpx.Response:
            raise make()

        async with client_for(RelayAuth("http://127.0.0.1:1", transport=httpx.MockTransport(handler))) as c:
            assert_unavailable(await c.get("/me", headers={"Authorization": "Bearer abc"}))
