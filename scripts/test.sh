#!/usr/bin/env bash
# The whole test suite, with everything it needs: installs redis-server from
# Debian's packages when missing, starts it on a free loopback port, runs
# every test with -race and a brief fuzz of every parser, and stops Redis.
# `make test` and .ci/run both call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fuzz budgets are execution counts ("Nx"), not durations: on go1.26 a
# duration -fuzztime races the fuzz coordinator's own deadline and can fail a
# target with a bare "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in go1.27). A count has no deadline to race.
FUZZTIME=${FUZZTIME:-100000x}

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# apt_install PACKAGE: install one of Debian's packages.
apt_install() {
  echo "test.sh: $1 is missing; installing Debian's package" >&2
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

need_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  apt_install redis-server || return 1
  # The package starts a system service; the tests use their own instance.
  $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
}

# nginx for the end-to-end test of deploy/nginx (cmd/relayauth's
# TestNginx*): Debian's nginx-light has ngx_http_auth_request_module. The
# test runs its own nginx on a free loopback port; the package's service is
# stopped. Without nginx the test skips, and fails under CI=true.
need_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && return 0
  apt_install nginx-light || return 1
  $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
}

# The console's browser tests drive Debian's chromium (never a browser
# downloaded at run time); they skip without it, and fail under CI=true.
need_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
}

free_port() { go run ./scripts/freeport; }

redis_dir=""
redis_pid=""
cluster_pids=""
cleanup() {
  for pid in $redis_pid $cluster_pids; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -n "$redis_dir" ] && rm -rf "$redis_dir"
}
trap cleanup EXIT

if need_redis; then
  redis_dir=$(mktemp -d)
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --dir "$redis_dir" --save '' --appendonly no \
    --daemonize no --logfile "$redis_dir/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    export RELAY_TEST_REDIS_ADDR="127.0.0.1:$port"
    echo "test.sh: redis-server $(redis-server --version | awk '{print $3}') on $RELAY_TEST_REDIS_ADDR"
  else
    echo "test.sh: redis-server did not start:" >&2; cat "$redis_dir/redis.log" >&2 || true
  fi
  # A 3-master Redis Cluster on loopback for the cluster conformance runs.
  cluster_addrs=""
  for i in 1 2 3; do
    cport=$(free_port)
    mkdir -p "$redis_dir/cluster-$i"
    redis-server --bind 127.0.0.1 --port "$cport" --dir "$redis_dir/cluster-$i" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --daemonize no --logfile "$redis_dir/cluster-$i/redis.log" &
    cluster_pids="${cluster_pids:-} $!"
    cluster_addrs="${cluster_addrs:+$cluster_addrs,}127.0.0.1:$cport"
  done
  for addr in ${cluster_addrs//,/ }; do
    for _ in $(seq 1 100); do
      redis-cli -h "${addr%:*}" -p "${addr#*:}" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  if redis-cli --cluster create ${cluster_addrs//,/ } --cluster-replicas 0 --cluster-yes >"$redis_dir/cluster-create.log" 2>&1; then
    for _ in $(seq 1 100); do
      redis-cli -h 127.0.0.1 -p "${cluster_addrs##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
      sleep 0.1
    done
    export RELAY_TEST_REDIS_CLUSTER="$cluster_addrs"
    echo "test.sh: Redis Cluster (3 masters) on $RELAY_TEST_REDIS_CLUSTER"
  else
    echo "test.sh: redis-cli --cluster create failed:" >&2; cat "$redis_dir/cluster-create.log" >&2 || true
  fi
else
  echo "test.sh: redis-server could not be installed; Redis tests will skip (and fail under CI=true)" >&2
fi

if need_nginx; then
  RELAY_TEST_NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  export RELAY_TEST_NGINX
  echo "test.sh: $("$RELAY_TEST_NGINX" -v 2>&1) for the gateway tests"
else
  echo "test.sh: nginx could not be installed; the gateway tests will skip (and fail under CI=true)" >&2
fi
need_chromium || echo "test.sh: chromium could not be installed; the console's browser tests will skip (and fail under CI=true)" >&2

go vet ./...
go test -race -count=1 ./...
# The hot paths' allocation budgets: the race detector makes sync.Pool drop
# items at random, so the budgets that rely on a pool are asserted here,
# without it.
go test -count=1 -run 'Allocat|TestSecurity07' ./token ./httpauth
# The Python package (clients/python): mypy --strict and pytest against the
# real server, in a throwaway virtual environment.
bash scripts/test-python.sh

# A brief run of every fuzz target (FUZZTIME executions each). The seed corpora already
# ran above as ordinary tests.
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}'); do
    echo "test.sh: fuzz $pkg $target, $FUZZTIME"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
  done
done
echo "test.sh: all tests passed"
