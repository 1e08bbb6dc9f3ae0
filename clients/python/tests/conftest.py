"""Fixtures: the real Relay Auth server (built with ``go build`` unless
``RELAY_TEST_BINARY`` names it). A missing prerequisite skips on a
developer's machine and FAILS under ``CI=true``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relayserver import RelayServer

CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parents[3]


def missing(reason: str) -> None:
    if CI:
        pytest.fail(f"prerequisite missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def relay_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    given = os.environ.get("RELAY_TEST_BINARY")
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"RELAY_TEST_BINARY={given} is not an executable file", pytrace=False)
        return given
    go = shutil.which("go")
    if go is None:
        missing("neither RELAY_TEST_BINARY nor a go toolchain to build the server")
        raise AssertionError("unreachable")
    out = tmp_path_factory.mktemp("bin") / "relayauth"
    res = subprocess.run([go, "build", "-o", str(out), "./cmd/relayauth"], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        pytest.fail(f"go build ./cmd/relayauth failed:\n{res.stderr}", pytrace=False)
    return str(out)


def _started(binary: str, **env: str) -> RelayServer:
    try:
        return RelayServer(binary, **env).start()
    except (OSError, RuntimeError) as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def relay(relay_binary: str) -> Iterator[RelayServer]:
    """The shared server: default settings (REVOCATION_SLA 5 s)."""
    srv = _started(relay_binary)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def relay_sla1(relay_binary: str) -> Iterator[RelayServer]:
    """A server that promises revocation within 1 s: its answers carry
    X-Relay-Cache-Max-Age of at most 1."""
    srv = _started(relay_binary, REVOCATION_SLA="1s")
    yield srv
    srv.stop()


@pytest.fixture
def private_relay(relay_binary: str) -> Iterator[RelayServer]:
    """A server of the test's own, which it may stop."""
    srv = _started(relay_binary)
    yield srv
    srv.stop()
