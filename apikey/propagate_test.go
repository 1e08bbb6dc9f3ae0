package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
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
// Verify answers from the index alone; notifyDown makes Notify fail.
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

	notifyDown atomic.Bool
	intentDown atomic.Bool
	mu         sync.Mutex
	intents    int // Intend calls
	notifyRuns int
	notified   []string // ids of the Notify calls that went through
	touchedIDs []string // ids of every TouchLastUsed
}

func newNotifying() *notifying {
	return &notifying{Store: apikey.NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
}

// Intend records nothing the tests look at; intentDown makes it fail.
func (n *notifying) Intend(context.Context, string, time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.intents++
	if n.intentDown.Load() {
		return errDown
	}
	return nil
}

func (n *notifying) Notify(_ context.Context, id string, _ time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notifyRuns++
	if n.notifyDown.Load() {
		return errDown
	}
	n.notified = append(n.notified, id)
	return nil
}

// announced returns the ids of the Notify calls that went through, and
// how many calls there were.
func (n *notifying) announced() ([]string, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.notified), n.notifyRuns
}

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

// TestAnnouncementRetriedUntilItGoesThrough: Rotate, Revoke and Delete
// succeed once the store recorded the change, even while the
// announcement to other Managers fails (Rotate hands out its new secret);
// the Manager retries each failed announcement at once, then on every
// propagation tick until it goes through, and logs the key's id, never a
// secret.
func TestAnnouncementRetriedUntilItGoesThrough(t *testing.T) {
	store := newNotifying()
	var logs syncBuffer
	m := propManager(t, store, 40*time.Millisecond, // a tick every 10ms
		apikey.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	rotated, rawOld := create(t, m, "rotated")
	revoked, rawRevoked := create(t, m, "revoked")
	deleted, rawDeleted := create(t, m, "deleted")

	store.notifyDown.Store(true)
	_, fresh, err := m.Rotate(ctx, rotated.ID, 0)
	if err != nil || fresh == "" {
		t.Fatalf("Rotate while announcements fail = %q, %v; want the new secret", fresh, err)
	}
	if err := m.Revoke(ctx, revoked.ID); err != nil {
		t.Fatalf("Revoke while announcements fail: %v", err)
	}
	if err := m.Delete(ctx, deleted.ID); err != nil {
		t.Fatalf("Delete while announcements fail: %v", err)
	}
	verifies(t, m, "the new secret", fresh.Reveal(), nil)
	verifies(t, m, "the old secret", rawOld, apikey.ErrUnknownKey)
	verifies(t, m, "the revoked key", rawRevoked, apikey.ErrRevoked)
	verifies(t, m, "the deleted key", rawDeleted, apikey.ErrUnknownKey)
	want := []string{rotated.ID, revoked.ID, deleted.ID}
	slices.Sort(want)
	if got := m.PendingAnnouncements(); !slices.Equal(got, want) {
		t.Fatalf("pending announcements %v, want %v", got, want)
	}
	_, before := store.announced()
	if before < 3*3 {
		t.Errorf("%d announcement attempts for 3 changes, want each tried 3 times at once", before)
	}
	time.Sleep(50 * time.Millisecond)
	if _, after := store.announced(); after <= before {
		t.Errorf("no announcement retried by the propagation ticks (%d attempts before, %d after)", before, after)
	}

	store.notifyDown.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for len(m.PendingAnnouncements()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still pending 5s after announcements work again: %v", m.PendingAnnouncements())
		}
		time.Sleep(time.Millisecond)
	}
	got, _ := store.announced()
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Errorf("the change of %s was never announced (announced: %v)", id, got)
		}
	}
	out := logs.String()
	for _, id := range want {
		if !strings.Contains(out, id) {
			t.Errorf("no log names %s", id)
		}
	}
	for _, secret := range []string{rawOld, fresh.Reveal(), rawRevoked, rawDeleted} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret is in the logs:\n%s", out)
		}
	}
}

// TestLaterAnnouncementClearsPendingOne: an announcement of a key that
// goes through covers the key's earlier changes whose announcement is
// pending: the other Managers read the key as it is now.
func TestLaterAnnouncementClearsPendingOne(t *testing.T) {
	store := newNotifying()
	m := propManager(t, store, time.Hour) // no tick during the test
	k, _ := create(t, m, "deploy")
	store.notifyDown.Store(true)
	if _, _, err := m.Rotate(ctx, k.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := m.PendingAnnouncements(); !slices.Equal(got, []string{k.ID}) {
		t.Fatalf("pending %v, want [%s]", got, k.ID)
	}
	store.notifyDown.Store(false)
	if _, _, err := m.Rotate(ctx, k.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got := m.PendingAnnouncements(); len(got) != 0 {
		t.Errorf("pending %v after an announcement of the key went through", got)
	}
}

// TestCloseSendsPendingAnnouncements: Close makes a last attempt at the
// announcements still pending; those it cannot make are named in its
// error, which wraps ErrUnavailable.
func TestCloseSendsPendingAnnouncements(t *testing.T) {
	for _, reachable := range []bool{true, false} {
		t.Run(fmt.Sprintf("reachable=%v", reachable), func(t *testing.T) {
			store := newNotifying()
			m := propManager(t, store, time.Hour) // no tick during the test
			k, _ := create(t, m, "deploy")
			store.notifyDown.Store(true)
			if err := m.Revoke(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			store.notifyDown.Store(!reachable)
			start := time.Now()
			err := m.Close()
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Close took %v", took)
			}
			got, _ := store.announced()
			if reachable {
				if err != nil || !slices.Contains(got, k.ID) {
					t.Fatalf("Close = %v, announced %v; want nil and %s announced", err, got, k.ID)
				}
				return
			}
			if !errors.Is(err, apikey.ErrUnavailable) || !strings.Contains(fmt.Sprint(err), k.ID) {
				t.Fatalf("Close = %v; want ErrUnavailable naming %s", err, k.ID)
			}
		})
	}
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
