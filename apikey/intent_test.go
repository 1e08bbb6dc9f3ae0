package apikey_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/relayauth/relayauth/apikey"
)

// TestNoChangeWithoutIntent: a change whose intent cannot be recorded is
// not made: Rotate, Revoke and Delete fail with ErrUnavailable and the
// store keeps the key as it was (no other Manager would be told of the
// write). Revoke and Delete still refuse the key on this Manager.
func TestNoChangeWithoutIntent(t *testing.T) {
	for _, tc := range []struct {
		op        string
		localWant error // what this Manager answers for the key afterwards
	}{
		{"Rotate", nil},
		{"Revoke", apikey.ErrRevoked},
		{"Delete", apikey.ErrRevoked},
	} {
		t.Run(tc.op, func(t *testing.T) {
			store := newNotifying()
			m := propManager(t, store, time.Minute)
			k, raw := create(t, m, "deploy")
			before, err := store.Get(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			store.intentDown.Store(true)
			switch tc.op {
			case "Rotate":
				_, _, err = m.Rotate(ctx, k.ID, 0)
			case "Revoke":
				err = m.Revoke(ctx, k.ID)
			case "Delete":
				err = m.Delete(ctx, k.ID)
			}
			if !errors.Is(err, apikey.ErrUnavailable) {
				t.Fatalf("%s without an intent: %v, want ErrUnavailable", tc.op, err)
			}
			after, err := store.Get(ctx, k.ID)
			if err != nil || after.Hash != before.Hash || after.Revoked() {
				t.Errorf("the store changed: %+v, %v", after, err)
			}
			if _, n := store.announced(); n != 0 {
				t.Errorf("%d announcements of a change not made", n)
			}
			verifies(t, m, "the key", raw, tc.localWant)
		})
	}
}

// TestChangedKeysWatched: a key this Manager hears of (an intent or a
// change, by message) is re-read on every reconciliation for
// IntentWindow, then no more.
func TestChangedKeysWatched(t *testing.T) {
	store := newNotifying()
	clk := newClock()
	m := propManager(t, store, 40*time.Millisecond, apikey.WithClock(clk.Now))
	k, raw := create(t, m, "deploy")
	store.deliver(k.ID) // an intent of another Manager: nothing written yet
	if got := m.Watched(); !slices.Equal(got, []string{k.ID}) {
		t.Fatalf("watched %v, want %v", got, []string{k.ID})
	}
	// The other Manager's write lands, and it dies before announcing it:
	// a reconciliation re-reads the key.
	if _, err := store.Update(ctx, k.ID, func(k *apikey.Key) error { k.RevokedAt = clk.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revocation is re-read", func() bool {
		_, err := m.Verify(ctx, raw)
		return errors.Is(err, apikey.ErrRevoked)
	})
	clk.Advance(apikey.IntentWindow + time.Nanosecond)
	eventually(t, "the watch ends", func() bool { return len(m.Watched()) == 0 })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
