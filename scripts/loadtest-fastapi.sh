#!/usr/bin/env bash
# What the relayauth FastAPI dependency costs: wrk against the same route
# without (/plain) and with (/authed, Depends(principal)) the dependency, the
# cache off and on, on one uvicorn worker each. Not part of the tests.
#
# Everything runs on this machine and talks only to 127.0.0.1; each wrk run
# is bounded (DURATION); a trap stops every process the script started.
# Installs Debian's wrk and Python packages when missing.
#
# Knobs: DURATION (each run, default 5s), ROUNDS (3 interleaved rounds; the
# table shows medians), THREADS (1), CONNECTIONS (16), CACHE_TTL (5: the
# cache-on app's cache_ttl; the server's REVOCATION_SLA is the default 5s).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-16}
CACHE_TTL=${CACHE_TTL:-5}
PY=/usr/bin/python3

log() { echo "loadtest-fastapi: $*" >&2; }

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
"$PY" -c 'import fastapi, httpx, uvicorn' >/dev/null 2>&1 || missing+=(python3-fastapi python3-httpx python3-uvicorn)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian's ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do # at most 5 s of graceful shutdown, then SIGKILL
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 15 "$f" >&2; }; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() { # URL: until it answers, 15 s at most
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$1 did not answer"; return 1
}

# --- the relayauth server -------------------------------------------------------
if [ -n "${RELAY_TEST_BINARY:-}" ]; then
  bin=$RELAY_TEST_BINARY
else
  log "go build ./cmd/relayauth"
  go build -o "$tmp/relayauth" ./cmd/relayauth
  bin=$tmp/relayauth
fi
password=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')
signing_key=$("$PY" -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
# The files exist before the server does: the loop below reads one at once.
: >"$tmp/relayauth.out"
: >"$tmp/relayauth.log"
env -i PATH="$PATH" RELAY_ENV=development LISTEN_ADDR=127.0.0.1:0 \
  JWT_SIGNING_KEY="$signing_key" \
  ADMIN_PASSWORD="$password" SESSION_STORE_BACKEND=memory AUTH_SIGNING_METRICS_ENABLED=false RELAY_DEBUG=false \
  RELAY_DEMO_MOCKS=false RELAY_MOCK_SIGNING=false API_KEYS_FILE= ACCESS_TOKEN_TTL=30m \
  "$bin" serve >"$tmp/relayauth.out" 2>"$tmp/relayauth.log" &
pids+=($!)
relay=""
for _ in $(seq 1 150); do
  relay=$(sed -n 's|^relayauth: listening on \(http://[^ ]*\)$|\1|p' "$tmp/relayauth.out" | head -n 1)
  [ -n "$relay" ] && break
  sleep 0.1
done
[ -n "$relay" ] || { log "relayauth did not start"; exit 1; }
wait_http "$relay/healthz"
log "relayauth on $relay"

# A tenant user's access token, minted by the admin (one login).
token=$(RELAY=$relay PASSWORD=$password "$PY" - <<'PYEOF'
import os, httpx
base = os.environ["RELAY"]
r = httpx.post(base + "/auth/login", json={"username": "admin", "password": os.environ["PASSWORD"]})
r.raise_for_status()
admin = r.json()["access_token"]
r = httpx.post(base + "/auth/tokens", headers={"Authorization": f"Bearer {admin}"},
               json={"subject": "load-user", "tenant": "acme", "roles": ["editor"], "scopes": ["orders:read"]})
r.raise_for_status()
print(r.json()["access_token"])
PYEOF
)
# The server's own answer, once, as a sanity check of the contract.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$relay/auth/forward" ||
  { log "GET /auth/forward does not answer 200: is the forward-auth route registered?"; exit 1; }

# --- two uvicorn apps: cache off, cache on ----------------------------------------
start_app() { # NAME CACHE_TTL -> sets app_url
  local port; port=$(free_port)
  env -i PATH="$PATH" PYTHONPATH="$PWD/clients/python" RELAY_ENV=development RELAY_AUTH_URL="$relay" \
    RELAY_AUTH_CACHE_TTL="$2" "$PY" -m uvicorn app:app --app-dir loadtest/fastapi --host 127.0.0.1 --port "$port" \
    --workers 1 --no-access-log --log-level warning >"$tmp/$1.log" 2>&1 &
  pids+=($!)
  app_url="http://127.0.0.1:$port"
  wait_http "$app_url/plain"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$app_url/authed")" = 200 ] ||
    { log "$1: /authed does not answer 200"; exit 1; }
}
start_app app-off 0; off_url=$app_url
start_app app-on "$CACHE_TTL"; on_url=$app_url
log "uvicorn (1 worker each): cache off $off_url, cache on (ttl ${CACHE_TTL}s) $on_url"

# --- wrk ------------------------------------------------------------------------
results=$tmp/results
: >"$results"
run() { # ROW URL
  if ! LT_ROW=$1 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency \
      -s loadtest/wrk/report.lua -H "Authorization: Bearer $token" "$2" >"$tmp/wrk.out" 2>&1; then
    log "wrk $1 failed:"; cat "$tmp/wrk.out" >&2; exit 1
  fi
  local row; row=$(grep '^LOADTEST_ROW|' "$tmp/wrk.out" | tail -n 1)
  [ -n "$row" ] || { log "wrk $1 printed no row:"; cat "$tmp/wrk.out" >&2; exit 1; }
  local errs; errs=$(echo "$row" | cut -d'|' -f6,7)
  [ "$errs" = "0|0" ] || { log "wrk $1: non-2xx or socket errors ($errs)"; cat "$tmp/wrk.out" >&2; exit 1; }
  echo "$row" >>"$results"
}
for url in "$off_url" "$on_url"; do # warm-up: connection pools, code paths
  wrk -t1 -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $token" "$url/authed" >/dev/null 2>&1
done
for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS (4 runs of $DURATION, wrk ${THREADS}t/${CONNECTIONS}c --latency)"
  run plain-off "$off_url/plain"
  run authed-off "$off_url/authed"
  run plain-on "$on_url/plain"
  run authed-on "$on_url/authed"
done

echo
echo "== relayauth FastAPI dependency: one uvicorn worker (asyncio, h11), relayauth memory store, wrk ${THREADS}t/${CONNECTIONS}c, median of $ROUNDS interleaved ${DURATION} runs; $(nproc) cores shared by wrk, uvicorn and relayauth"
"$PY" - "$results" <<'PYEOF'
import statistics, sys
rows: dict[str, list[tuple[float, float, float]]] = {}
for line in open(sys.argv[1]):
    _, name, rps, p50, p99, *_ = line.strip().split("|")
    rows.setdefault(name, []).append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print(f"{'cache':<7}{'route':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'authed/plain':>14}{'added p50':>11}{'added p99':>11}")
for cache in ("off", "on"):
    plain, authed = med[f"plain-{cache}"], med[f"authed-{cache}"]
    print(f"{cache:<7}{'/plain':<9}{plain[0]:>9.0f}{plain[1]:>9.2f}{plain[2]:>9.2f}")
    print(f"{cache:<7}{'/authed':<9}{authed[0]:>9.0f}{authed[1]:>9.2f}{authed[2]:>9.2f}"
          f"{authed[0] / plain[0]:>14.2f}{authed[1] - plain[1]:>+11.2f}{authed[2] - plain[2]:>+11.2f}")
PYEOF
