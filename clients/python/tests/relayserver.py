"""A real Relay Auth server process for the tests, and the admin calls that
set up principals on it."""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import httpx

LISTEN_RE = re.compile(r"listening on (http://\S+)")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    session_id: str


@dataclass(frozen=True)
class APIKey:
    id: str
    key: str


class RelayServer:
    """``relayauth serve`` in development mode on a free loopback port, with
    the memory store. ``url`` is set once it answers ``/healthz``."""

    def __init__(self, binary: str, **extra_env: str) -> None:
        self.binary = binary
        self.admin_password = secrets.token_urlsafe(24)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "RELAY_ENV": "development",
            "LISTEN_ADDR": "127.0.0.1:0",
            "JWT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "ADMIN_PASSWORD": self.admin_password,
            "SESSION_STORE_BACKEND": "memory",
            "AUTH_SIGNING_METRICS_ENABLED": "false",
            "RELAY_DEBUG": "false",
            "RELAY_DEMO_MOCKS": "false",
            "RELAY_MOCK_SIGNING": "false",
            "API_KEYS_FILE": "",
            **extra_env,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []
        self._listen = threading.Event()
        self._admin: str | None = None

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.append(line)
            m = LISTEN_RE.search(line)
            if m and not self.url:
                self.url = m.group(1)
                self._listen.set()

    def start(self, timeout: float = 20.0) -> RelayServer:
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._listen.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("relayauth serve did not start:\n" + "".join(self.output[-40:]))
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("relayauth serve is not healthy:\n" + "".join(self.output[-40:]))
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    # Admin calls. Login is throttled per account: it happens once.

    def _call(self, method: str, path: str, token: str | None = None, json: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.admin_token()}"}
        return httpx.request(method, self.url + path, headers=headers, json=json, timeout=10)

    def admin_token(self) -> str:
        if self._admin is None:
            r = httpx.post(self.url + "/auth/login", json={"username": "admin", "password": self.admin_password},
                           timeout=10)
            r.raise_for_status()
            self._admin = str(r.json()["access_token"])
        return self._admin

    def mint(self, subject: str, tenant: str, roles: list[str] | None = None,
             scopes: list[str] | None = None) -> Tokens:
        """A session and token pair for any principal, issued by the admin."""
        r = self._call("POST", "/auth/tokens", json={"subject": subject, "tenant": tenant,
                                                     "roles": roles or [], "scopes": scopes or []})
        assert r.status_code == 200, r.text
        body = r.json()
        return Tokens(body["access_token"], body["refresh_token"], body["session_id"])

    def logout(self, access_token: str) -> None:
        r = self._call("POST", "/auth/logout", token=access_token)
        assert r.status_code == 204, r.text

    def create_api_key(self, tenant: str, scopes: list[str] | None = None,
                       roles: list[str] | None = None) -> APIKey:
        r = self._call("POST", "/auth/api-keys", json={"name": "py-test-" + secrets.token_hex(4), "tenant": tenant,
                                                       "scopes": scopes or [], "roles": roles or []})
        assert r.status_code == 201, r.text
        body = r.json()
        return APIKey(body["id"], body["key"])

    def delete_api_key(self, key_id: str) -> None:
        r = self._call("DELETE", f"/auth/api-keys/{key_id}")
        assert r.status_code == 204, r.text
