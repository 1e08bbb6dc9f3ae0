"""Bad input is answered with FastAPI's usual error shape, never a 500, and
never echoes the credential."""

from __future__ import annotations

import pytest

from relayauth import MAX_CREDENTIAL_LEN, RelayAuth
from relayserver import RelayServer
from testapp import Recording, client_for

pytestmark = pytest.mark.anyio

GARBAGE = [
    "Bearer ",
    "Bearer x",
    "Bearer !!!!",
    "Bearer a.b.c",
    "Bearer " + "a." * 2000,
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsInJvbGVzIjpbImFkbWluIl19.c2ln",
    "Basic YWRtaW46YWRtaW4=",
    "Bearer a b",
    "Bearer\tabc",
    "bearer",
    "Token abc",
    "Bearer =abc",
    "Bearer abc==x",
]


def assert_error_shape(r_status: int, body: object, text: str, *secrets: str) -> None:
    assert r_status != 500
    assert isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], str)
    for s in secrets:
        if len(s) >= 4:
            assert s not in text


@pytest.mark.parametrize("cache_ttl", [0, 2])
async def test_garbage_tokens(relay: RelayServer, cache_ttl: float) -> None:
    async with client_for(RelayAuth(relay.url, cache_ttl=cache_ttl)) as c:
        for value in GARBAGE:
            r = await c.get("/me", headers={"Authorization": value})
            assert r.status_code in (400, 401), (value[:40], r.status_code, r.text)
            assert_error_shape(r.status_code, r.json(), r.text, value.removeprefix("Bearer "))
            assert r.headers["www-authenticate"].startswith('Bearer realm="relayauth"')
        for value in ("x", "rk_live_" + "A" * 40, "' OR 1=1 --", "../../etc/passwd"):
            r = await c.get("/me", headers={"X-API-Key": value})
            assert r.status_code == 401, (value, r.text)
            assert_error_shape(r.status_code, r.json(), r.text, value)


async def test_unsendable_bytes_refused_locally(relay: RelayServer) -> None:
    rec = Recording()
    async with client_for(RelayAuth(relay.url, transport=rec)) as c:
        for raw in (b"Bearer \xc3\xa9t\xc3\xa9", b"Bearer abc\x7f", b" Bearer abc", b"Bearer abc ", b"",
                    b"Bearer \x01\x02"):
            r = await c.get("/me", headers=[(b"Authorization", raw)])
            assert r.status_code == 401, raw
            assert_error_shape(r.status_code, r.json(), r.text)
            r = await c.get("/me", headers=[(b"X-API-Key", raw)])
            assert r.status_code == 401, raw
        # A bad request id is dropped, not an error.
        t = relay.mint("rid", "acme")
        r = await c.get("/me", headers=[(b"Authorization", f"Bearer {t.access_token}".encode()),
                                        (b"X-Request-Id", b"\xff" * 10)])
        assert r.status_code == 200
    assert len(rec.requests) == 1 and "x-request-id" not in rec.requests[0].headers


async def test_oversized_headers(relay: RelayServer) -> None:
    rec = Recording()
    async with client_for(RelayAuth(relay.url, transport=rec)) as c:
        for size in (MAX_CREDENTIAL_LEN + 1, 64 << 10, 1 << 20):
            tok = "a" * size
            for h in ({"Authorization": "Bearer " + tok}, {"X-API-Key": tok}):
                r = await c.get("/me", headers=h)
                assert r.status_code == 401
                assert_error_shape(r.status_code, r.json(), r.text, tok)
                assert r.headers["www-authenticate"] == 'Bearer realm="relayauth", error="invalid_token"'
        assert rec.requests == []  # refused here, without a server call
        # Just under the limit: the server's to judge.
        r = await c.get("/me", headers={"Authorization": "Bearer " + "a" * (MAX_CREDENTIAL_LEN - 7)})
        assert r.status_code == 401 and len(rec.requests) == 1


async def test_two_credentials(relay: RelayServer) -> None:
    t = relay.mint("two", "acme")
    k = relay.create_api_key("acme", scopes=["orders:read"])
    cases = [
        [("Authorization", f"Bearer {t.access_token}"), ("X-API-Key", k.key)],
        [("Authorization", f"Bearer {t.access_token}"), ("Authorization", f"Bearer {t.access_token}")],
        [("X-API-Key", k.key), ("x-api-key", k.key)],
        [("Authorization", "Bearer garbage"), ("X-API-Key", "garbage")],
    ]
    async with client_for(RelayAuth(relay.url)) as c:
        for headers in cases:
            r = await c.get("/me", headers=headers)
            assert r.status_code == 400, headers
            assert r.headers["www-authenticate"] == 'Bearer realm="relayauth", error="invalid_request"'
            assert_error_shape(r.status_code, r.json(), r.text, t.access_token, k.key)


async def test_server_is_the_authority_on_format(relay: RelayServer) -> None:
    """What passes the cheap local check goes to the server, which answers
    as it does for every other route."""
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="relayauth"'  # another scheme: no error code
