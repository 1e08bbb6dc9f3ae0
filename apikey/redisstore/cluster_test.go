package redisstore

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
	"github.com/relayauth/relayauth/internal/testredis"
)

// TestConformanceCluster runs the whole suite on a real 3-master Redis
// Cluster: every multi-key script must stay within one hash slot.
func TestConformanceCluster(t *testing.T) {
	addrs := testredis.Cluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		return newStore(t, c, testredis.Prefix(t))
	})
}

// TestChangesLostCluster: reading the change log, one transaction per
// round trip, works on a Redis Cluster (the log is one key).
func TestChangesLostCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testredis.Cluster(t)})
	t.Cleanup(func() { c.Close() })
	testChangesLost(t, c)
}
