"""Settings checks: the Python counterpart of the Go production safety
validator. Every problem is listed at once, each naming its setting."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

log = logging.getLogger("relayauth")

#: The environment variable that names the environment (as the server's).
ENV_VAR = "RELAY_ENV"
DEVELOPMENT, STAGING, PRODUCTION = "development", "staging", "production"

Severity = Literal["error", "warning"]


def current_environment(getenv: Callable[[str], str | None] = os.environ.get) -> str:
    """The environment named by ``RELAY_ENV``, read now.

    Fails closed: unset, empty or unknown (``prod``, ``Development``)
    counts as production. Only the server's own spellings are known.
    """
    value = (getenv(ENV_VAR) or "").strip()
    return value if value in (DEVELOPMENT, STAGING) else PRODUCTION


@dataclass(frozen=True)
class Problem:
    """One setting that is wrong, or unsafe for the environment."""

    severity: Severity
    setting: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.setting}: {self.problem} (fix: {self.fix})"


class UnsafeSettingsError(ValueError):
    """Raised at start-up for invalid settings, or settings unsafe in production."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("relayauth: refusing these settings:\n  " + "\n  ".join(map(str, self.problems)))


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_settings(
    *,
    server_url: str,
    cache_ttl: float = 0.0,
    cache_size: int = 10_000,
    timeout: float = 2.0,
    revocation_sla: float = 5.0,
    environment: str | None = None,
) -> list[Problem]:
    """Every problem of these settings for ``environment`` (``None``: read
    ``RELAY_ENV`` now; unset or unknown counts as production).

    Invalid values are errors everywhere. The safety rules are errors in
    production and warnings in staging; development is left alone:

    - the server URL is plain ``http`` to a host that is not loopback
      (credentials would cross the network in clear text);
    - the cache TTL is above the server's revocation SLA (a revoked
      credential would be honoured for longer than the server promises).
    """
    if environment is None:
        env = current_environment()
    else:
        env = environment if environment in (DEVELOPMENT, STAGING) else PRODUCTION
    out: list[Problem] = []

    def err(setting: str, problem: str, fix: str) -> None:
        out.append(Problem("error", setting, problem, fix))

    parts = urlsplit(server_url)
    host = ""
    if parts.scheme not in ("http", "https"):
        err("server_url", "scheme must be http or https", "use e.g. https://auth.internal:8443")
    try:
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError:
        err("server_url", "malformed port", "use host:port with a port number")
    if not host:
        err("server_url", "no host", "use e.g. https://auth.internal:8443")
    if parts.username is not None or parts.password is not None:
        err("server_url", "carries credentials (user:password@)", "remove them from the URL")
    if parts.query or parts.fragment or server_url.endswith(("?", "#")):
        err("server_url", "carries a query or fragment", "give only scheme://host[:port][/prefix]")
    if not _finite(timeout) or timeout <= 0:
        err("timeout", "must be a positive number of seconds", "use e.g. 2.0")
    if not _finite(cache_ttl) or cache_ttl < 0:
        err("cache_ttl", "must be 0 (off) or a positive number of seconds", "use 0, or at most the revocation SLA")
    if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 1:
        err("cache_size", "must be a positive integer", "use e.g. 10000")
    if not _finite(revocation_sla) or revocation_sla <= 0:
        err("revocation_sla", "must be a positive number of seconds", "use the server's REVOCATION_SLA (default 5)")

    if env != DEVELOPMENT:
        sev: Severity = "error" if env == PRODUCTION else "warning"
        if parts.scheme == "http" and host and not _is_loopback(host):
            out.append(Problem(sev, "server_url", f"plain http to {host}, which is not loopback",
                               "use https, or reach the server on loopback (a sidecar)"))
        if _finite(cache_ttl) and _finite(revocation_sla) and cache_ttl > revocation_sla:
            out.append(Problem(sev, "cache_ttl", f"{cache_ttl:g} s is above the revocation SLA ({revocation_sla:g} s)",
                               "set cache_ttl to at most the server's REVOCATION_SLA, or 0"))
    return out


def raise_for_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`UnsafeSettingsError` listing every error of
    ``problems`` at once; log the warnings."""
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise UnsafeSettingsError(errors)
    for p in problems:
        log.warning("relayauth: %s", p)
