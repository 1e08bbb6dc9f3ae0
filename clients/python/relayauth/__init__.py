"""Relay Auth for FastAPI: authenticate requests through the Relay Auth
server's forward-auth endpoint.

.. code-block:: python

    from fastapi import Depends, FastAPI
    from relayauth import Principal, RelayAuth, outside_production

    auth = RelayAuth("http://127.0.0.1:8080")   # cache off: revocation is immediate
    app = FastAPI()
    app.on_event("shutdown")(auth.aclose)

    @app.get("/tenants/{tenant}/orders")
    async def orders(p: Principal = Depends(auth.require_tenant())) -> dict[str, str]:
        return {"tenant": p.tenant}

See README.md beside this package for the whole API.
"""

from ._client import MAX_CREDENTIAL_LEN, AuthError, ForwardAuthClient
from ._fastapi import RelayAuth, enabled, outside_production
from ._principal import ROLE_ADMIN, ROLE_TENANT_ADMIN, Principal
from ._settings import Problem, UnsafeSettingsError, check_settings, current_environment

__all__ = [
    "MAX_CREDENTIAL_LEN",
    "ROLE_ADMIN",
    "ROLE_TENANT_ADMIN",
    "AuthError",
    "ForwardAuthClient",
    "Principal",
    "Problem",
    "RelayAuth",
    "UnsafeSettingsError",
    "check_settings",
    "current_environment",
    "enabled",
    "outside_production",
]

__version__ = "0.1.0"
