"""The authenticated caller, as the Relay Auth server vouched for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The platform administrator: every scope, every tenant (as in Go's
#: ``relayauth.RoleAdmin``).
ROLE_ADMIN = "admin"
#: Administers its own tenant only (Go's ``relayauth.RoleTenantAdmin``).
ROLE_TENANT_ADMIN = "tenant_admin"

Method = Literal["jwt", "api_key"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Built only from the server's forward-auth answer, never from the
    incoming request's own headers. The methods have the semantics of the
    Go ``relayauth.Principal``: role ``admin`` is the platform
    administrator, who holds every scope and passes every tenant check
    (but not every *role* check: ``has_role`` is literal).
    """

    subject: str
    tenant: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    session_id: str | None  # None for API keys
    method: Method

    def has_role(self, role: str) -> bool:
        """Whether the principal holds ``role`` (literally)."""
        return role in self.roles

    def is_admin(self) -> bool:
        """Whether the principal is a platform administrator."""
        return self.has_role(ROLE_ADMIN)

    def has_scope(self, scope: str) -> bool:
        """Whether the principal may use ``scope``; platform admins hold every scope."""
        return self.is_admin() or scope in self.scopes

    def in_tenant(self, tenant: str) -> bool:
        """Whether the principal may act in ``tenant``: its own, or any for
        platform admins. An empty tenant never matches."""
        return tenant != "" and (self.is_admin() or tenant == self.tenant)

    def can_administer_tenant(self, tenant: str) -> bool:
        """Platform admins everywhere, tenant admins in their own tenant."""
        return self.is_admin() or (self.has_role(ROLE_TENANT_ADMIN) and self.tenant == tenant)
