#!/usr/bin/env bash
# The Python client's checks: installs Debian's Python packages when missing
# (PyPI is not reachable), makes a throwaway venv over them, installs
# clients/python into it, runs mypy --strict on the package and its tests,
# and pytest against a real relayauth server (RELAY_TEST_BINARY, or one built
# here with go build). Under CI=true a missing tool fails the run.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
DEBS=(python3-fastapi python3-httpx python3-pytest python3-uvicorn python3-mypy python3-anyio python3-setuptools python3-venv)

have_python_deps() {
  [ -x "$PY" ] && "$PY" - <<'PYEOF' >/dev/null 2>&1
import ensurepip, venv, fastapi, httpx, pytest, uvicorn, mypy, anyio, setuptools
PYEOF
}

if ! have_python_deps; then
  echo "test-python.sh: installing Debian's Python packages: ${DEBS[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${DEBS[@]}" >/dev/null || true
fi
if ! have_python_deps; then
  msg="test-python.sh: $PY with fastapi, httpx, pytest, uvicorn, mypy, anyio, setuptools and venv is not available"
  if [ "${CI:-}" = "true" ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg; skipping the Python tests" >&2
  exit 0
fi

work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${RELAY_TEST_BINARY:-}" ]; then
  if ! command -v go >/dev/null 2>&1; then
    msg="test-python.sh: go is missing and RELAY_TEST_BINARY is not set"
    if [ "${CI:-}" = "true" ]; then echo "$msg" >&2; exit 1; fi
    echo "$msg; skipping the Python tests" >&2
    exit 0
  fi
  go build -o "$work/relayauth" ./cmd/relayauth
  export RELAY_TEST_BINARY="$work/relayauth"
fi

"$PY" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-deps --no-build-isolation --no-index ./clients/python
# The tests import the installed package, not the source tree.
rm -rf clients/python/build clients/python/relayauth.egg-info

echo "test-python.sh: mypy --strict"
(cd clients/python && "$work/venv/bin/python" -m mypy --strict --cache-dir "$work/mypy-cache" -p relayauth)
(cd clients/python/tests && "$work/venv/bin/python" -m mypy --strict --cache-dir "$work/mypy-cache" .)

echo "test-python.sh: pytest"
cd clients/python/tests
"$work/venv/bin/python" -m pytest -q -c ../pyproject.toml --rootdir .. "$@"
