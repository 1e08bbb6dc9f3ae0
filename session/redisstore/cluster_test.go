package redisstore

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

// TestConformanceCluster runs the whole suite on a real 3-master Redis
// Cluster: every multi-key step must stay within one hash slot.
func TestConformanceCluster(t *testing.T) {
	addrs := testredis.Cluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		return newStore(t, c, WithPrefix(testredis.Prefix(t)))
	})
}
