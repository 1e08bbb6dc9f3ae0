"""The load comparison's app: the same route twice, without and with the
relayauth dependency. Run with uvicorn, one worker.

Environment: RELAY_AUTH_URL (the server), RELAY_AUTH_CACHE_TTL (seconds; 0,
the default, turns the cache off).
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI

from relayauth import Principal, RelayAuth

auth = RelayAuth(os.environ["RELAY_AUTH_URL"], cache_ttl=float(os.environ.get("RELAY_AUTH_CACHE_TTL", "0")))
principal = auth.principal

app = FastAPI()
app.on_event("shutdown")(auth.aclose)


@app.get("/plain")
async def plain() -> dict[str, str]:
    return {"subject": "anonymous"}


@app.get("/authed")
async def authed(p: Principal = Depends(principal)) -> dict[str, str]:
    return {"subject": p.subject}
