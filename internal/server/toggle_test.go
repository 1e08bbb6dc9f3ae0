package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth/session"
)

// toggleStore wraps a real store and simulates an outage on demand.
type toggleStore struct {
	session.Store
	down atomic.Bool
}

func (s *toggleStore) Check(ctx context.Context, id string, now time.Time) error {
	if s.down.Load() {
		return session.ErrUnavailable
	}
	return s.Store.Check(ctx, id, now)
}

func (s *toggleStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return session.ErrUnavailable
	}
	return s.Store.Ping(ctx)
}
