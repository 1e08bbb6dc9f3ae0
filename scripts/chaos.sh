#!/usr/bin/env bash
# The chaos run (`make chaos`; not part of `make test` or CI): loadtest/chaos
# twice, on loopback only, each bounded by DURATION (default 60s) — three
# instances on one Redis (AOF), then on a Sentinel set (a primary, a replica,
# one sentinel) — with load on every instance, revocations of sessions,
# subjects, tenants and API keys on random instances, an instance SIGKILLed
# and restarted every 5 s, and the Redis primary SIGKILLed once halfway (a
# failover with Sentinel). The program starts and stops every process itself.
# Knobs: DURATION, SLA (REVOCATION_SLA, default 2s), WORKERS (16).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60s}
SLA=${SLA:-2s}
WORKERS=${WORKERS:-16}
command -v redis-server >/dev/null 2>&1 || { echo "chaos: redis-server is required (apt-get install redis-server)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/" ./cmd/relayauth ./loadtest/chaos
rc=0
echo "== one Redis"
"$tmp/chaos" -bin "$tmp/relayauth" -duration "$DURATION" -sla "$SLA" -workers "$WORKERS" || rc=$?
echo "== Sentinel set"
"$tmp/chaos" -bin "$tmp/relayauth" -duration "$DURATION" -sla "$SLA" -workers "$WORKERS" -sentinel || rc=$?
exit $rc
