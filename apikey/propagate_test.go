package apikey_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayauth/relayauth/apikey"
)

// notifying is a memory store that is a Notifier with nothing to
// announce: its subscription is up until the Manager closes. While hold
// is set, Changes blocks, whatever its context says, until the test sends
// on release: a store call that overruns its timeout, as on a Redis
// server that stopped answering. The other hooks: lost makes the next
// Changes report ErrChangesLost; onList runs once, in the next List,
// after the store was read; blind makes GetByHash find nothing, so that
// Verify answers from the index alone.
type notifying struct {
	apikey.Store
	hold    atomic.Bool
	entered chan struct{} // a held Changes has begun
	release chan struct{} // lets one held Changes return; closed at clean-up

	changes atomic.Int64 // Changes calls so far
	lost    atomic.Bool
	lostAt  atomic.Int64 // the Changes call that reported ErrChangesLost
	onList  atomic.Pointer[func()]
	blind   atomic.Bool
	fn      atomic.Pointer[func(string, time.Time)] // the subscriber

	mu         sync.Mutex
	touchedIDs []string // ids of every TouchLastUsed
}

func newNotifying() *notifying {
	return &notifying{Store: apikey.NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (n *notifying) Notify(context.Context, string, time.Time) error { return nil }

func (n *notifying) Subscribe(ctx context.Context, fn func(string, time.Time), up func(bool)) error {
	n.fn.Store(&fn)
	up(true)
	<-ctx.Done()
	return nil
}

// deliver hands the subscriber a notification of id, as from another
// Manager.
func (n *notifying) deliver(id string) { (*n.fn.Load())(id, time.Now()) }

func (n *notifying) Changes(_ context.Context, cursor string) ([]string, string, error) {
	call := n.changes.Add(1)
	if n.lost.CompareAndSwap(true, false) {
		n.lostAt.Store(call)
		return nil, "0", apikey.ErrChangesLost
	}
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

func (n *notifying) List(ctx context.Context, tenant string) ([]apikey.Key, error) {
	keys, err := n.Store.List(ctx, tenant)
	if f := n.onList.Swap(nil); f != nil {
		(*f)()
	}
	return keys, err
}

func (n *notifying) GetByHash(ctx context.Context, h apikey.Hash) (apikey.Key, error) {
	if n.blind.Load() {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return n.Store.GetByHash(ctx, h)
}

func (n *notifying) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	n.mu.Lock()
	for id := range used {
		n.touchedIDs = append(n.touchedIDs, id)
	}
	n.mu.Unlock()
	return n.Store.TouchLastUsed(ctx, used)
}

// reloadNow makes the Manager's next reconciliation find its changes lost,
// so that it reloads every key, and returns once that reconciliation has
// returned (the next one has begun).
func (n *notifying) reloadNow(t *testing.T) {
	t.Helper()
	n.lostAt.Store(math.MaxInt64)
	n.lost.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for n.changes.Load() <= n.lostAt.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no reconciliation reloaded the keys within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// propManager is a Manager on store whose index never goes stale (its
// clock stands still) and that reconciles every freshness/4.
func propManager(t *testing.T, store *notifying, freshness time.Duration, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	opts = append([]apikey.Option{apikey.WithClock(newClock().Now), apikey.WithFreshness(freshness),
		apikey.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	m, err := apikey.NewManager(store, apikey.EnvLive, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func create(t *testing.T, m *apikey.Manager, name string) (apikey.Key, string) {
	t.Helper()
	k, secret, err := m.Create(ctx, apikey.CreateRequest{Name: name, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	return k, secret.Reveal()
}

func verifies(t *testing.T, m *apikey.Manager, what, raw string, want error) {
	t.Helper()
	if _, err := m.Verify(ctx, raw); !errors.Is(err, want) {
		t.Fatalf("Verify of %s = %v, want %v", what, err, want)
	}
}

// TestReloadForgetsKeysGoneFromStore: a key deleted by another Manager
// whose announcement this one never received, nor read in the change log
// before it was trimmed, stops working here once the reconciliation that
// finds the changes lost has reloaded the keys: the index, and the
// last-used times it keeps for the flush, hold only what the store holds.
func TestReloadForgetsKeysGoneFromStore(t *testing.T) {
	store := newNotifying()
	m := propManager(t, store, 40*time.Millisecond)
	gone, rawGone := create(t, m, "gone")
	_, rawKept := create(t, m, "kept")
	verifies(t, m, "the key about to be deleted", rawGone, nil) // a use to flush
	if err := store.Store.Delete(ctx, gone.ID); err != nil {    // elsewhere, unannounced
		t.Fatal(err)
	}
	verifies(t, m, "the deleted key before the reload (nothing told this Manager)", rawGone, nil)

	store.reloadNow(t)
	store.blind.Store(true) // what the index holds, not what a lookup finds
	verifies(t, m, "the deleted key after the reload", rawGone, apikey.ErrUnknownKey)
	verifies(t, m, "a key still in the store", rawKept, nil)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if slices.Contains(store.touchedIDs, gone.ID) {
		t.Errorf("the last use of the deleted key was flushed after the reload: %v", store.touchedIDs)
	}
}

// TestReloadKeepsChangesMadeWhileListing: what the index learns while the
// reload's List runs is not undone by List's older answer. A key this
// Manager creates meanwhile (which no notification announces) keeps
// working; a key it deletes meanwhile, or that another Manager deletes
// and announces meanwhile, does not come back.
func TestReloadKeepsChangesMadeWhileListing(t *testing.T) {
	store := newNotifying()
	m := propManager(t, store, 40*time.Millisecond)
	deletedHere, rawDeletedHere := create(t, m, "deleted-here")
	deletedThere, rawDeletedThere := create(t, m, "deleted-there")
	_, rawKept := create(t, m, "kept")
	var rawCreated string
	during := func() { // List has read the store
		_, rawCreated = create(t, m, "created-meanwhile")
		if err := m.Delete(ctx, deletedHere.ID); err != nil {
			t.Error(err)
		}
		if err := store.Store.Delete(ctx, deletedThere.ID); err != nil {
			t.Error(err)
		}
		store.deliver(deletedThere.ID)
	}
	store.onList.Store(&during)

	store.reloadNow(t)
	if store.onList.Load() != nil {
		t.Fatal("the reload did not list the keys")
	}
	store.blind.Store(true) // what the index holds, not what a lookup finds
	verifies(t, m, "a key created while the reload listed", rawCreated, nil)
	verifies(t, m, "a key deleted here while the reload listed", rawDeletedHere, apikey.ErrUnknownKey)
	verifies(t, m, "a key deleted elsewhere while the reload listed", rawDeletedThere, apikey.ErrUnknownKey)
	verifies(t, m, "a key nobody changed", rawKept, nil)
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
