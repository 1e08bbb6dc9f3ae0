// Package pubsub opens the Redis subscriptions through which instances
// sharing one Redis learn of each other's revocations.
package pubsub

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscribe subscribes to channel and waits up to timeout for Redis to
// confirm it, so a caller knows its subscription is live before it counts
// its state as fresh.
func Subscribe(ctx context.Context, rdb redis.UniversalClient, channel string, timeout time.Duration) (*redis.PubSub, error) {
	ps := rdb.Subscribe(ctx, channel)
	m, err := ps.ReceiveTimeout(ctx, timeout)
	if err == nil {
		if sub, ok := m.(*redis.Subscription); !ok || sub.Kind != "subscribe" {
			err = fmt.Errorf("subscribe: unexpected reply %T", m)
		}
	}
	if err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}
