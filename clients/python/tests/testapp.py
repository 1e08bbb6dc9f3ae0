"""A FastAPI app that uses every dependency of the package."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from relayauth import Principal, RelayAuth, outside_production


def make_app(auth: RelayAuth, environment: Callable[[], str | None] | None = None) -> FastAPI:
    app = FastAPI()
    app.on_event("shutdown")(auth.aclose)

    def view(p: Principal) -> dict[str, Any]:
        return asdict(p)

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/me")
    async def me(p: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return view(p)

    @app.get("/editors")
    async def editors(p: Principal = Depends(auth.require_roles("editor", "tenant_admin"))) -> dict[str, Any]:
        return view(p)

    @app.get("/orders")
    async def orders(p: Principal = Depends(auth.require_scopes("orders:read", "orders:write"))) -> dict[str, Any]:
        return view(p)

    @app.get("/tenants/{tenant}/orders")
    async def tenant_orders(tenant: str, p: Principal = Depends(auth.require_tenant())) -> dict[str, Any]:
        return view(p)

    @app.get("/orgs/{org}/orders")
    async def org_orders(org: str, p: Principal = Depends(auth.require_tenant("org"))) -> dict[str, Any]:
        return view(p)

    @app.get("/no-tenant-param")
    async def no_param(p: Principal = Depends(auth.require_tenant())) -> dict[str, Any]:
        return view(p)

    @app.get("/tenants/{tenant}/reports")
    async def reports(
        tenant: str,
        p: Principal = Depends(auth.require_tenant()),
        _s: Principal = Depends(auth.require_scopes("reports:read")),
        _r: Principal = Depends(auth.require_roles("analyst", "admin")),
    ) -> dict[str, Any]:
        return view(p)

    @app.get("/debug", dependencies=[Depends(outside_production(environment))])
    async def debug(p: Principal = Depends(auth.require_roles("admin"))) -> dict[str, Any]:
        return view(p)

    return app


@contextlib.asynccontextmanager
async def client_for(auth: RelayAuth, environment: Callable[[], str | None] | None = None,
                     ) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the test app, in process; the package inside it
    talks to the real server over TCP. Closes the package's pool after."""
    app = make_app(auth, environment)
    try:
        # httpx 0.23 types the ASGI app more narrowly than Starlette does.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            yield c
    finally:
        await auth.aclose()


class Recording(httpx.AsyncBaseTransport):
    """A TCP transport that records the forward-auth requests it sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
