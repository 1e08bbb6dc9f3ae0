"""The environment guard: a route that exists only outside production,
decided on every request, failing closed."""

from __future__ import annotations

import pytest

from relayauth import RelayAuth, enabled, outside_production
from relayserver import RelayServer
from testapp import client_for

pytestmark = pytest.mark.anyio


async def test_guard_follows_relay_env_on_every_request(relay: RelayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = {"Authorization": f"Bearer {relay.admin_token()}"}
    tenant_user = {"Authorization": f"Bearer {relay.mint('u', 'acme').access_token}"}
    monkeypatch.setenv("RELAY_ENV", "development")
    async with client_for(RelayAuth(relay.url)) as c:
        unknown = await c.get("/no-such-route")
        assert unknown.status_code == 404

        assert (await c.get("/debug", headers=admin)).status_code == 200
        assert (await c.get("/debug", headers=tenant_user)).status_code == 403
        assert (await c.get("/debug")).status_code == 401

        for env in ("production", "", "prod", "Development", "anything"):
            monkeypatch.setenv("RELAY_ENV", env)  # same app, same process: read per request
            no_credential: dict[str, str] = {}
            for headers in (admin, tenant_user, no_credential):
                r = await c.get("/debug", headers=headers)
                # Exactly what a route that does not exist answers; before authentication.
                assert (r.status_code, r.json()) == (404, unknown.json()), (env, headers)
                assert "www-authenticate" not in r.headers

        monkeypatch.delenv("RELAY_ENV")
        assert (await c.get("/debug", headers=admin)).status_code == 404  # unset: production

        monkeypatch.setenv("RELAY_ENV", "staging")
        assert (await c.get("/debug", headers=admin)).status_code == 200
        monkeypatch.setenv("RELAY_ENV", " development ")
        assert (await c.get("/debug", headers=admin)).status_code == 200


async def test_guard_with_a_callable(relay: RelayServer) -> None:
    admin = {"Authorization": f"Bearer {relay.admin_token()}"}
    env: list[str | None] = ["development"]
    async with client_for(RelayAuth(relay.url), environment=lambda: env[0]) as c:
        assert (await c.get("/debug", headers=admin)).status_code == 200
        env[0] = "production"
        assert (await c.get("/debug", headers=admin)).status_code == 404
        env[0] = None
        assert (await c.get("/debug", headers=admin)).status_code == 404


async def test_enabled_fails_closed() -> None:
    def broken() -> bool:
        raise RuntimeError("config service down")

    from fastapi import HTTPException
    for on in (broken, lambda: False):
        with pytest.raises(HTTPException) as e:
            await enabled(on)()
        assert e.value.status_code == 404
    await enabled(lambda: True)()


def test_guard_refuses_to_allow_production() -> None:
    with pytest.raises(ValueError):
        outside_production(allow=("production",))
    with pytest.raises(ValueError):
        outside_production(allow=())
