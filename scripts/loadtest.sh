#!/usr/bin/env bash
# The load kit (`make loadtest`; not part of `make test` or CI). Everything
# runs on this machine and talks only to 127.0.0.1; every loop is bounded in
# time and stops by itself; a trap stops every process it started.
#
#   1. throughput: one server on a private Redis; wrk against /healthz,
#      /auth/me (bearer, then API key), /auth/introspect (the token as its
#      own caller, then an API key asking about it), /auth/forward
#      (no requirements, then ?scopes= with X-Original-URI), the Go
#      generator (loadtest/refresh) against /auth/refresh and /auth/login;
#      one table: req/s, p50, p99, non-2xx, and each row against /healthz.
#   2. propagation: a second server on the same Redis; a session revoked on
#      A, B polled until it answers 401 (loadtest/propagation).
#   3. Redis outage: Redis SIGKILLed and restarted (same --dir, AOF) in the
#      middle of a wrk run against /auth/me, a revoked token polled beside it
#      (loadtest/outage).
#
# Installs wrk and redis-server from Debian's packages when missing.
# Knobs (environment): DURATION (each run of a throughput row, default 5s),
# ROUNDS (3, interleaved runs of each wrk row; the table shows medians),
# THREADS (2), CONNECTIONS (64), REFRESH_WORKERS (16), LOGIN_WORKERS (4),
# LOGIN_DURATION (3s), BAD_LOGIN_DURATION (5s), PROPAGATION_SAMPLES (50),
# OUTAGE_RUN (10, seconds of wrk in part 3), OUTAGE_KILL_AT (1, seconds into
# it), OUTAGE_SECONDS (6, Redis down; the fail-closed window is
# REVOCATION_SLA, default 5s, so less than that shows no 503s), PARTS
# (1,2,3: the parts to run; PARTS=1 is the throughput table alone).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
REFRESH_WORKERS=${REFRESH_WORKERS:-16}
LOGIN_WORKERS=${LOGIN_WORKERS:-4}
LOGIN_DURATION=${LOGIN_DURATION:-3s}
BAD_LOGIN_DURATION=${BAD_LOGIN_DURATION:-5s}
PROPAGATION_SAMPLES=${PROPAGATION_SAMPLES:-50}
OUTAGE_RUN=${OUTAGE_RUN:-10}
OUTAGE_KILL_AT=${OUTAGE_KILL_AT:-1}
OUTAGE_SECONDS=${OUTAGE_SECONDS:-6}
PARTS=${PARTS:-1,2,3}

part() { [[ ",$PARTS," == *",$1,"* ]]; }

log() { echo "loadtest: $*" >&2; }

# --- tools -------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian's ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # The package starts a system service; the kit runs its own instance.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

# --- processes and clean-up ---------------------------------------------------
tmp=$(mktemp -d)
pids=()
redis_pid=""
failed=0
cleanup() {
  local rc=$?
  for p in "${pids[@]}" $redis_pid; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do # at most 5 s of graceful shutdown, then SIGKILL
    local alive=0
    for p in "${pids[@]}" $redis_pid; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}" $redis_pid; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$failed" = 0 ]; then
    for f in "$tmp"/*.log; do
      [ -f "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 15 "$f" >&2
    done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building"
mkdir -p "$tmp/bin" "$tmp/redis" "$tmp/marks"
go build -o "$tmp/bin/" ./cmd/relayauth ./scripts/freeport ./loadtest/refresh ./loadtest/propagation ./loadtest/outage
bin=$tmp/bin

redis_port=$("$bin/freeport")
start_redis() {
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$tmp/redis" --appendonly yes --save '' \
    --daemonize no --logfile "$tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "redis-server did not answer within 10 s"
  return 1
}

export RELAY_ENV=development RELAY_DEBUG=false RELAY_DEMO_MOCKS=false RELAY_MOCK_SIGNING=false
export AUTH_SIGNING_METRICS_ENABLED=false API_KEYS_FILE=
export SESSION_STORE_BACKEND=redis REDIS_URL="redis://127.0.0.1:$redis_port/0"
JWT_SIGNING_KEY=$(head -c 32 /dev/urandom | base64)
ADMIN_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export JWT_SIGNING_KEY ADMIN_PASSWORD
export ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL:-30m} # outlasts a long DURATION
export LT_ADMIN_PASSWORD=$ADMIN_PASSWORD

# start_server NAME: starts an instance on a free loopback port and sets
# url to its base URL once it listens.
url=""
start_server() {
  local port
  port=$("$bin/freeport")
  LISTEN_ADDR="127.0.0.1:$port" "$bin/relayauth" serve >"$tmp/$1.out" 2>"$tmp/$1.log" &
  pids+=($!)
  for _ in $(seq 1 200); do
    url=$(sed -n 's|^relayauth: listening on \(http://[^ ]*\)$|\1|p' "$tmp/$1.out" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  log "server $1 did not start"
  return 1
}

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
login() { # login URL: the answer of a successful login
  curl -sS --fail-with-body -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$1/auth/login"
}
status() { # status METHOD URL [curl args...]
  local method=$1 url=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' -X "$method" "$@" "$url"
}

start_redis
start_server a
A=$url
log "redis on 127.0.0.1:$redis_port, instance A on $A"

# --- part 1: throughput --------------------------------------------------------
if part 1; then
  answer=$(login "$A")
  LT_TOKEN=$(field access_token <<<"$answer")
  answer=$(curl -sS --fail-with-body -H "Authorization: Bearer $LT_TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"load","tenant":"platform","scopes":["tokens:introspect"]}' "$A/auth/api-keys")
  LT_API_KEY=$(field key <<<"$answer")
  export LT_TOKEN LT_API_KEY
  [ -n "$LT_TOKEN" ] && [ -n "$LT_API_KEY" ] || { log "no token or API key: $answer"; exit 1; }
  [ "$(status GET "$A/auth/me" -H "Authorization: Bearer $LT_TOKEN")" = 200 ] || { log "/auth/me with the token is not 200"; exit 1; }
  [ "$(status GET "$A/auth/me" -H "X-API-Key: $LT_API_KEY")" = 200 ] || { log "/auth/me with the API key is not 200"; exit 1; }
  [ "$(status GET "$A/auth/forward" -H "Authorization: Bearer $LT_TOKEN")" = 200 ] || { log "/auth/forward with the token is not 200"; exit 1; }
  for caller in "Authorization: Bearer $LT_TOKEN" "X-API-Key: $LT_API_KEY"; do
    curl -sS -H "$caller" -d "token=$LT_TOKEN" "$A/auth/introspect" | grep -q '^{"active":true,' ||
      { log "introspection by ${caller%%:*} does not find the token active"; exit 1; }
  done

  rows=$tmp/rows
  : >"$rows"
  wrk_row() { # wrk_row NAME SCRIPT PATH
    log "wrk $1 for $DURATION ($THREADS threads, $CONNECTIONS connections)"
    if ! LT_ROW=$1 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "loadtest/wrk/$2" "$A$3" >"$tmp/wrk.out" 2>&1 ||
      ! grep '^LOADTEST_ROW|' "$tmp/wrk.out" >>"$rows"; then
      log "wrk $1 failed:"
      cat "$tmp/wrk.out" >&2
      exit 1
    fi
  }
  gen_row() { # gen_row MESSAGE ARGS...
    log "$1"
    shift
    "$bin/refresh" -url "$A" "$@" | grep '^LOADTEST_ROW|' >>"$rows"
  }
  # Rounds of every wrk row in turn: one run of a row swings by ±10 % on a
  # shared 2-core machine, as much as the ratios being measured, so each row
  # is reported as its median over ROUNDS runs interleaved with the others.
  for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    wrk_row "GET /healthz" healthz.lua /healthz
    wrk_row "GET /auth/me (Bearer)" me_bearer.lua /auth/me
    wrk_row "GET /auth/me (X-API-Key)" me_apikey.lua /auth/me
    wrk_row "POST /auth/introspect" introspect.lua /auth/introspect
    wrk_row "POST /auth/introspect (X-API-Key)" introspect_apikey.lua /auth/introspect
    wrk_row "GET /auth/forward" forward.lua /auth/forward
    wrk_row "GET /auth/forward?scopes=" forward_scopes.lua "/auth/forward?scopes=tokens:introspect"
  done
  gen_row "refresh for $DURATION ($REFRESH_WORKERS workers, each with its own session)" \
    -mode refresh -workers "$REFRESH_WORKERS" -duration "$DURATION"
  gen_row "login, right password, for $LOGIN_DURATION ($LOGIN_WORKERS workers)" \
    -mode login -workers "$LOGIN_WORKERS" -duration "$LOGIN_DURATION"
  # Last on A: it locks the admin account on A (the throttle is per instance);
  # parts 2 and 3 log in on B.
  gen_row "login, wrong password, for $BAD_LOGIN_DURATION ($LOGIN_WORKERS workers)" \
    -mode login-wrong -workers "$LOGIN_WORKERS" -duration "$BAD_LOGIN_DURATION"

  echo
  echo "== Part 1: throughput on one instance (Redis sessions; wrk ${THREADS}t/${CONNECTIONS}c, $ROUNDS interleaved rounds of $DURATION; $(nproc) cores, load generator on the same cores)"
  # Per row: median req/s and p50 over its runs, the worst p99, the range of
  # req/s, summed failures; the ratio is of medians.
  awk -F'|' '
    !($2 in n) { order[++rows] = $2 }
    { k = $2; i = ++n[k]; rps[k, i] = $3; p50[k, i] = $4; if ($5 > p99[k]) p99[k] = $5; bad[k] += $6; err[k] += $7; codes[k] = $8 }
    function median(arr, k, m,    i, j, t, v) {
      for (i = 1; i <= m; i++) v[i] = arr[k, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    function lo(arr, k, m,    i, x) { x = arr[k, 1]; for (i = 2; i <= m; i++) if (arr[k, i] < x) x = arr[k, i]; return x }
    function hi(arr, k, m,    i, x) { x = arr[k, 1]; for (i = 2; i <= m; i++) if (arr[k, i] > x) x = arr[k, i]; return x }
    END {
      base = ("GET /healthz" in n) ? median(rps, "GET /healthz", n["GET /healthz"]) : 0
      printf "%-34s %9s %15s %9s %9s %8s %6s %10s  %s\n", "endpoint", "req/s", "range", "p50 ms", "p99 ms", "non-2xx", "errs", "vs healthz", "status codes"
      for (r = 1; r <= rows; r++) {
        k = order[r]; m = n[k]; med = median(rps, k, m)
        ratio = (base > 0 && codes[k] == "-") ? sprintf("%.2f", med / base) : "-" # wrk rows only
        printf "%-34s %9d %7d-%-7d %9.3f %9.3f %8d %6d %10s  %s\n", k, med, lo(rps, k, m), hi(rps, k, m), median(p50, k, m), p99[k], bad[k], err[k], ratio, codes[k]
      }
    }' "$rows"
  echo "(wrk rows: non-2xx is wrk's count of status >= 400; errs are socket errors and time-outs. Refresh and login rows come from loadtest/refresh, one run each.)"
fi

# --- part 2: propagation between two instances ----------------------------------
B=""
start_b() { # parts 2 and 3 run on a second instance, B
  if [ -z "$B" ]; then
    start_server b
    B=$url
  fi
}
if part 2; then
  start_b
  echo
  echo "== Part 2: single-session revocation, A ($A) -> B ($B), $PROPAGATION_SAMPLES samples, 5s limit each"
  "$bin/propagation" -a "$A" -b "$B" -n "$PROPAGATION_SAMPLES" -timeout 5s || { failed=1; log "propagation run failed"; }
fi

# --- part 3: Redis killed and restarted under load -------------------------------
if part 3; then
  start_b
  echo
  echo "== Part 3: Redis SIGKILLed ${OUTAGE_KILL_AT}s into a ${OUTAGE_RUN}s wrk run on B, down ${OUTAGE_SECONDS}s, restarted with its AOF (REVOCATION_SLA ${REVOCATION_SLA:-5s})"
  live=$(login "$B" | field access_token)
  victim=$(login "$B" | field access_token)
  got=$(status POST "$B/auth/logout" -H "Authorization: Bearer $victim")
  [ "$got" = 204 ] || { log "logout of the victim session answered $got"; exit 1; }
  [ "$(status GET "$B/auth/me" -H "Authorization: Bearer $victim")" = 401 ] || { log "revoked token not 401 before the outage"; exit 1; }
  [ "$(status GET "$B/auth/me" -H "Authorization: Bearer $live")" = 200 ] || { log "live token not 200 before the outage"; exit 1; }
  sleep 1.5 # appendfsync everysec: the session and the revocation are on disk

  "$bin/outage" -url "$B" -live "$live" -revoked "$victim" -marks "$tmp/marks" -duration "$((OUTAGE_RUN + 2))s" >"$tmp/outage.out" 2>&1 &
  prober=$!
  pids+=($prober)
  LT_TOKEN=$live wrk -t"$THREADS" -c"$CONNECTIONS" -d"${OUTAGE_RUN}s" --timeout 5s -s loadtest/wrk/outage.lua "$B/auth/me" >"$tmp/wrk-outage.out" 2>&1 &
  wrk_pid=$!
  pids+=($wrk_pid)
  sleep "$OUTAGE_KILL_AT"
  { # quiet: no "Killed" job notice
    kill -9 "$redis_pid"
    date +%s%N >"$tmp/marks/kill"
    wait "$redis_pid"
  } 2>/dev/null || true
  redis_pid=""
  sleep "$OUTAGE_SECONDS"
  start_redis
  date +%s%N >"$tmp/marks/ready"
  wrk_rc=0
  wait "$wrk_pid" || wrk_rc=$?
  prober_rc=0
  wait "$prober" || prober_rc=$?
  codes=$(grep '^LOADTEST_CODES|' "$tmp/wrk-outage.out" || true)
  if [ "$wrk_rc" -ne 0 ] || [ -z "$codes" ]; then
    log "wrk (outage run) failed:"
    cat "$tmp/wrk-outage.out" >&2
    failed=1
  else
    IFS='|' read -r _ counts sockerr <<<"$codes"
    echo "wrk /auth/me with the live token, status counts: $counts (socket errors $sockerr)"
  fi
  cat "$tmp/outage.out"
  [ "$prober_rc" -eq 0 ] || failed=1
  keys=$(redis-cli -h 127.0.0.1 -p "$redis_port" dbsize 2>/dev/null || echo "?")
  echo "Redis after the restart holds $keys keys"
fi

echo
if [ "$failed" -ne 0 ]; then
  echo "loadtest: FAILED (see above)"
  exit 1
fi
echo "loadtest: done"
