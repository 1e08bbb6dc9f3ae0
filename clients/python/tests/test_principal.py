"""Principal semantics: those of the Go relayauth.Principal."""

from __future__ import annotations

import dataclasses

import pytest

from relayauth import Principal


def p(roles: tuple[str, ...] = (), scopes: tuple[str, ...] = (), tenant: str = "acme") -> Principal:
    return Principal(subject="u", tenant=tenant, roles=roles, scopes=scopes, session_id="s", method="jwt")


def test_roles_are_literal() -> None:
    assert p(("editor",)).has_role("editor")
    assert not p(("editor",)).has_role("admin")
    assert not p(("admin",)).has_role("editor")  # the admin passes scope and tenant checks, not role checks
    assert p(("admin",)).is_admin()
    assert not p(("tenant_admin",)).is_admin()


def test_admin_holds_every_scope() -> None:
    assert p(("admin",)).has_scope("anything:at-all")
    assert p(scopes=("orders:read",)).has_scope("orders:read")
    assert not p(scopes=("orders:read",)).has_scope("orders:write")


def test_tenant() -> None:
    assert p().in_tenant("acme")
    assert not p().in_tenant("globex")
    assert not p().in_tenant("")
    assert p(("admin",), tenant="platform").in_tenant("globex")
    assert not p(("admin",), tenant="platform").in_tenant("")
    assert p(("tenant_admin",)).can_administer_tenant("acme")
    assert not p(("tenant_admin",)).can_administer_tenant("globex")
    assert p(("admin",)).can_administer_tenant("globex")


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        p().subject = "root"  # type: ignore[misc]
