package apikey_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayauth/relayauth/apikey"
)

// notifying is a memory store that is a Notifier with nothing to
// announce: its subscription is up until the Manager closes. While hold
// is set, Changes blocks, whatever its context says, until the test sends
// on release: a store call that overruns its timeout, as on a Redis
// server that stopped answering.
type notifying struct {
	apikey.Store
	hold    atomic.Bool
	entered chan struct{} // a held Changes has begun
	release chan struct{} // lets one held Changes return; closed at clean-up
}

func newNotifying() *notifying {
	return &notifying{Store: apikey.NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (n *notifying) Notify(context.Context, string, time.Time) error { return nil }

func (n *notifying) Subscribe(ctx context.Context, _ func(string, time.Time), up func(bool)) error {
	up(true)
	<-ctx.Done()
	return nil
}

func (n *notifying) Changes(_ context.Context, cursor string) ([]string, string, error) {
	if n.hold.Load() {
		select {
		case n.entered <- struct{}{}:
		case <-n.release:
			return nil, cursor, nil
		}
		<-n.release
	}
	return nil, "0", nil
}

// TestStaleWhileReconcileBlocks: Verify refuses every key as soon as the
// last confirmation of the index is older than the freshness window, even
// while the reconciliation that would confirm it again is stuck; and a
// confirmation dates from when its reconciliation started, not from when
// it returned. The window is judged on the Manager's clock.
func TestStaleWhileReconcileBlocks(t *testing.T) {
	const freshness = 40 * time.Millisecond // the loop reconciles every 10ms
	store := newNotifying()
	clk := newClock()
	m, err := apikey.NewManager(store, apikey.EnvLive, apikey.WithClock(clk.Now),
		apikey.WithFreshness(freshness), apikey.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	t.Cleanup(func() { store.hold.Store(false); close(store.release) }) // before Close
	_, secret, err := m.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	raw := secret.Reveal()
	verify := func(when string, want error) {
		t.Helper()
		if _, err := m.Verify(ctx, raw); !errors.Is(err, want) {
			t.Fatalf("%s: Verify = %v, want %v", when, err, want)
		}
	}
	verify("fresh", nil)

	// Every reconciliation so far started at t0; the next one blocks.
	t0 := clk.Now()
	store.hold.Store(true)
	<-store.entered
	clk.Set(t0.Add(freshness))
	verify("at the end of the window, the loop blocked", nil)
	clk.Set(t0.Add(freshness + time.Millisecond))
	verify("past the window, the loop blocked", apikey.ErrUnavailable)

	// The blocked reconciliation (started at t0) completes; the next one
	// starts, and blocks, at t0+freshness+1ms.
	store.release <- struct{}{}
	<-store.entered
	verify("after a reconciliation that started at t0 returned", apikey.ErrUnavailable)

	// That one completes: confirmed from t0+freshness+1ms.
	store.release <- struct{}{}
	<-store.entered
	verify("after a reconciliation that started within the window returned", nil)
	clk.Set(t0.Add(2*freshness + time.Millisecond))
	verify("at the end of the new window", nil)
	clk.Set(t0.Add(2*freshness + 2*time.Millisecond))
	verify("past the new window", apikey.ErrUnavailable)
}
