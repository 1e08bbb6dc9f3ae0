"""Each dependency's allow and deny cases, against the real server."""

from __future__ import annotations

import pytest

from relayauth import RelayAuth
from relayserver import RelayServer
from testapp import Recording, client_for

pytestmark = pytest.mark.anyio


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_principal_of_a_token(relay: RelayServer) -> None:
    t = relay.mint("alice", "acme", roles=["editor"], scopes=["orders:read", "orders:write"])
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me", headers=bearer(t.access_token))
    assert r.status_code == 200, r.text
    assert r.json() == {"subject": "alice", "tenant": "acme", "roles": ["editor"],
                        "scopes": ["orders:read", "orders:write"], "session_id": t.session_id, "method": "jwt"}


async def test_principal_of_an_api_key(relay: RelayServer) -> None:
    k = relay.create_api_key("acme", scopes=["orders:read"])
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me", headers={"X-API-Key": k.key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["tenant"], body["scopes"], body["session_id"], body["method"]) == ("acme", ["orders:read"], None,
                                                                                    "api_key")


async def test_principal_of_the_admin(relay: RelayServer) -> None:
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me", headers=bearer(relay.admin_token()))
    assert r.status_code == 200
    assert (r.json()["subject"], r.json()["tenant"], r.json()["roles"]) == ("admin", "platform", ["admin"])


async def test_no_credentials(relay: RelayServer) -> None:
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="relayauth"'
    assert set(r.json()) == {"detail"}


async def test_invalid_token_gets_the_servers_challenge(relay: RelayServer) -> None:
    async with client_for(RelayAuth(relay.url)) as c:
        r = await c.get("/me", headers=bearer("not-a-jwt"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="relayauth", error="invalid_token"'
    assert set(r.json()) == {"detail"} and "not-a-jwt" not in r.text


async def test_require_roles(relay: RelayServer) -> None:
    editor = relay.mint("ed", "acme", roles=["editor"])
    tadmin = relay.mint("ta", "acme", roles=["tenant_admin"])
    nobody = relay.mint("nb", "acme", roles=["viewer"])
    async with client_for(RelayAuth(relay.url)) as c:
        assert (await c.get("/editors", headers=bearer(editor.access_token))).status_code == 200
        assert (await c.get("/editors", headers=bearer(tadmin.access_token))).status_code == 200  # any one
        r = await c.get("/editors", headers=bearer(nobody.access_token))
        assert r.status_code == 403 and set(r.json()) == {"detail"}
        assert "insufficient_scope" not in r.headers.get("www-authenticate", "")
        # Roles are literal, as in Go: the platform admin holds no other role.
        assert (await c.get("/editors", headers=bearer(relay.admin_token()))).status_code == 403
        assert (await c.get("/editors")).status_code == 401


async def test_require_scopes(relay: RelayServer) -> None:
    both = relay.mint("b", "acme", scopes=["orders:read", "orders:write"])
    one = relay.mint("o", "acme", scopes=["orders:read"])
    key = relay.create_api_key("acme", scopes=["orders:read", "orders:write"])
    async with client_for(RelayAuth(relay.url)) as c:
        assert (await c.get("/orders", headers=bearer(both.access_token))).status_code == 200
        assert (await c.get("/orders", headers={"X-API-Key": key.key})).status_code == 200
        r = await c.get("/orders", headers=bearer(one.access_token))  # all of them, not any
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == 'Bearer realm="relayauth", error="insufficient_scope"'
        assert set(r.json()) == {"detail"}
        # The platform admin holds every scope.
        assert (await c.get("/orders", headers=bearer(relay.admin_token()))).status_code == 200


async def test_require_tenant(relay: RelayServer) -> None:
    acme = relay.mint("a", "acme")
    key = relay.create_api_key("acme", scopes=["orders:read"])
    async with client_for(RelayAuth(relay.url)) as c:
        for h in (bearer(acme.access_token), {"X-API-Key": key.key}):
            assert (await c.get("/tenants/acme/orders", headers=h)).status_code == 200
            assert (await c.get("/orgs/acme/orders", headers=h)).status_code == 200
            for path in ("/tenants/globex/orders", "/orgs/globex/orders", "/tenants/ACME/orders",
                         "/no-tenant-param"):
                r = await c.get(path, headers=h)
                assert r.status_code == 404, path
                assert r.json() == {"detail": "Not Found"}
        # Platform admins pass every tenant check, but a missing tenant is still a 404.
        admin = bearer(relay.admin_token())
        assert (await c.get("/tenants/globex/orders", headers=admin)).status_code == 200
        assert (await c.get("/no-tenant-param", headers=admin)).status_code == 404
        # Authentication comes first.
        assert (await c.get("/tenants/acme/orders")).status_code == 401


async def test_combined_checks_ask_the_server_once(relay: RelayServer) -> None:
    ok = relay.mint("an", "acme", roles=["analyst"], scopes=["reports:read"])
    no_scope = relay.mint("an2", "acme", roles=["analyst"])
    rec = Recording()
    async with client_for(RelayAuth(relay.url, transport=rec)) as c:
        assert (await c.get("/tenants/acme/reports", headers=bearer(ok.access_token))).status_code == 200
        assert len(rec.requests) == 1  # three dependencies, one forward-auth call
        assert (await c.get("/tenants/globex/reports", headers=bearer(ok.access_token))).status_code == 404
        assert (await c.get("/tenants/acme/reports", headers=bearer(no_scope.access_token))).status_code == 403
        assert (await c.get("/tenants/globex/reports", headers=bearer(relay.admin_token()))).status_code == 200


async def test_incoming_x_relay_headers_are_ignored(relay: RelayServer) -> None:
    t = relay.mint("mallory", "acme", roles=["viewer"])
    forged = {"X-Relay-Subject": "admin", "X-Relay-Tenant": "globex", "X-Relay-Roles": "admin editor",
              "X-Relay-Scopes": "orders:read orders:write", "X-Relay-Auth-Method": "api_key",
              "X-Relay-Session-Id": "forged", "X-Relay-Cache-Max-Age": "3600"}
    rec = Recording()
    async with client_for(RelayAuth(relay.url, transport=rec, cache_ttl=5)) as c:
        r = await c.get("/me", headers={**bearer(t.access_token), **forged})
        assert r.status_code == 200
        assert (r.json()["subject"], r.json()["tenant"], r.json()["roles"]) == ("mallory", "acme", ["viewer"])
        assert (await c.get("/tenants/globex/orders", headers={**bearer(t.access_token), **forged})).status_code == 404
        assert (await c.get("/editors", headers={**bearer(t.access_token), **forged})).status_code == 403
        assert (await c.get("/orders", headers={**bearer(t.access_token), **forged})).status_code == 403
        assert (await c.get("/me", headers=forged)).status_code == 401  # no credential: forged headers are nothing
    # And they are not passed on to the server either.
    for req in rec.requests:
        assert not [k for k in req.headers if k.lower().startswith("x-relay-")]


async def test_credential_and_request_id_passed_unchanged(relay: RelayServer) -> None:
    t = relay.mint("rid", "acme")
    rec = Recording()
    async with client_for(RelayAuth(relay.url, transport=rec)) as c:
        r = await c.get("/me", headers={**bearer(t.access_token), "X-Request-Id": "req-123", "Cookie": "a=b"})
        assert r.status_code == 200
        r = await c.get("/me", headers={"authorization": f"bEaReR {t.access_token}"})  # scheme case: the server's call
        assert r.status_code == 200
    first = rec.requests[0]
    assert first.url.path == "/auth/forward" and first.method == "GET"
    assert first.headers["authorization"] == f"Bearer {t.access_token}"
    assert first.headers["x-request-id"] == "req-123"
    assert "cookie" not in first.headers
    assert rec.requests[1].headers["authorization"] == f"bEaReR {t.access_token}"
