// Package testredis hands tests the real redis-server that the test
// command (scripts/test.sh) started for them.
//
// Tests that need Redis call Addr. Without a server they skip on a
// developer's machine, but FAIL when CI=true: CI must never go green by
// skipping the backend it is meant to check.
package testredis

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// EnvAddr names the variable that carries the server's host:port.
const EnvAddr = "RELAY_TEST_REDIS_ADDR"

// Addr returns the address of a reachable redis-server, or ends the test.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		missing(t, EnvAddr+" is not set; run the tests with `make test`, which starts redis-server")
		return ""
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		// The variable says a server is there: an unreachable one is a
		// broken set-up, never a reason to skip.
		t.Fatalf("redis-server at %s (%s) is unreachable: %v", addr, EnvAddr, err)
	}
	conn.Close()
	return addr
}

// Prefix returns a key prefix unique to this test, so tests sharing one
// server never see each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "relaytest:" + hex.EncodeToString(b[:]) + ":"
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and Redis is required: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// EnvCluster names the variable that carries a Redis Cluster's seed
// addresses, comma-separated.
const EnvCluster = "RELAY_TEST_REDIS_CLUSTER"

// Cluster returns the seed addresses of the Redis Cluster that the test
// command started, or ends the test: skip on a developer's machine, fail
// under CI=true.
func Cluster(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(EnvCluster)
	if v == "" {
		missing(t, EnvCluster+" is not set; run the tests with `make test`, which starts a 3-master cluster")
		return nil
	}
	addrs := strings.Split(v, ",")
	for _, a := range addrs {
		conn, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			t.Fatalf("Redis Cluster node %s (%s) is unreachable: %v", a, EnvCluster, err)
		}
		conn.Close()
	}
	return addrs
}
