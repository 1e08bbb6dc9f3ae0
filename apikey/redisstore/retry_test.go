package redisstore

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
	"github.com/relayauth/relayauth/internal/testredis"
)

// The serving client keeps go-redis's default of three retries
// (cmd/relayauth/redisurl.go): a command whose connection drops after it
// reached Redis (network failure, failover, read timeout) is sent again,
// and has then run twice. These tests lose the reply to one write and
// check that the store's answer and Redis's state are those of a single
// run.

// lossyStore returns a store under prefix whose client, with go-redis's
// default retries, loses the reply to the first command that contains
// trigger, and a client that reaches Redis directly. Every script is
// loaded first, so that a script's first run is the EVALSHA that a
// trigger of its SHA1 names, not a NOSCRIPT answer.
func lossyStore(t *testing.T, prefix string, trigger string) (s *Store, lost func() int, direct *redis.Client) {
	t.Helper()
	addr := testredis.Addr(t)
	direct = client(t)
	for _, script := range []*redis.Script{createScript, updateScript, touchScript, deleteScript, releaseScript} {
		if err := script.Load(ctx, direct).Err(); err != nil {
			t.Fatal(err)
		}
	}
	paddr, lost := testredis.LoseReply(t, addr, []byte(trigger))
	c := redis.NewClient(&redis.Options{Addr: paddr})
	t.Cleanup(func() { c.Close() })
	return newStore(t, c, prefix), lost, direct
}

func quiet() apikey.Option { return apikey.WithLogger(slog.New(slog.DiscardHandler)) }

func wantLost(t *testing.T, lost func() int) {
	t.Helper()
	if lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", lost())
	}
}

// TestRotateRetriedAfterLostReply: Manager.Rotate, whose compare-and-swap
// runs twice. The second run finds the record this call wrote and reports
// it written: Update does not take it for a lost race and apply Rotate's
// change again, and Rotate returns the secret that Redis holds.
func TestRotateRetriedAfterLostReply(t *testing.T) {
	prefix := testredis.Prefix(t)
	s, lost, _ := lossyStore(t, prefix, updateScript.Hash())
	m, err := apikey.NewManager(s, apikey.EnvLive, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	k, old, err := m.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	got, fresh, err := m.Rotate(ctx, k.ID, time.Hour)
	wantLost(t, lost)
	if err != nil {
		t.Fatalf("Rotate whose reply was lost once: %v, want success", err)
	}
	stored, err := s.Get(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Hash != apikey.HashOf(fresh.Reveal()) || stored.PrevHash != apikey.HashOf(old.Reveal()) {
		t.Errorf("the record does not hold the secret Rotate returned as current and the old one as previous")
	}
	if got.RotatedAt.IsZero() || !got.RotatedAt.Equal(stored.RotatedAt) {
		t.Errorf("Rotate returned rotated_at %v; the record holds %v", got.RotatedAt, stored.RotatedAt)
	}
	// Another instance accepts both secrets, as after any rotation with
	// a grace period.
	b, _ := instance(t, testredis.Addr(t), prefix)
	for name, raw := range map[string]string{"new": fresh.Reveal(), "old": old.Reveal()} {
		if id, err := b.Verify(ctx, raw); err != nil || id.ID != k.ID {
			t.Errorf("the %s secret on another instance: %v", name, err)
		}
	}
}

// TestUpdateCallsAreToldApart: the compare-and-swap recognises its own
// earlier run by the call's token, not by what it writes: another call
// that read the same version and would write the very same record still
// loses the race, so its change is applied again to the record as it is
// now and none is lost.
func TestUpdateCallsAreToldApart(t *testing.T) {
	c := client(t)
	s := newStore(t, c, testredis.Prefix(t))
	k := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	if err := s.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	doc, err := encodeDoc(k)
	if err != nil {
		t.Fatal(err)
	}
	run := func(token string) int64 {
		t.Helper()
		res, err := updateScript.Run(ctx, c, []string{s.keys.record("acme", k.ID), s.keys.names("acme")},
			"1", k.ID, k.Name, doc, "", token).Slice()
		if err != nil {
			t.Fatal(err)
		}
		return res[0].(int64)
	}
	if code := run("call-1"); code != 1 {
		t.Fatalf("first run: %d, want 1 (written)", code)
	}
	if code := run("call-1"); code != 1 {
		t.Errorf("the same call run again: %d, want 1 (written, by this call)", code)
	}
	if code := run("call-2"); code != 0 {
		t.Errorf("another call from the same version, with the same record: %d, want 0 (lost the race)", code)
	}
	if ver := c.HGet(ctx, s.keys.record("acme", k.ID), "ver").Val(); ver != "2" {
		t.Errorf("ver = %s, want 2: one write", ver)
	}
	// Two concurrent Updates whose functions compute the same result
	// from the same version are two changes.
	n := 0
	if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error {
		n++
		r.CreatedBy += "+"
		if n == 1 {
			// Another Update commits between this one's read and write.
			if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { r.CreatedBy += "+"; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, k.ID); got.CreatedBy != k.CreatedBy+"++" {
		t.Errorf("created_by %q after two Updates that each added a + to %q", got.CreatedBy, k.CreatedBy)
	}
}

// TestCreateRetriedAfterLostReply: Manager.Create, whose record script
// runs twice. The second run finds the record this call wrote: Create
// succeeds, and its index entries stay (a Create that failed here took
// them back, leaving a record that lookups cannot find and whose name
// could never be used again).
func TestCreateRetriedAfterLostReply(t *testing.T) {
	prefix := testredis.Prefix(t)
	s, lost, _ := lossyStore(t, prefix, createScript.Hash())
	m, err := apikey.NewManager(s, apikey.EnvLive, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	k, raw, err := m.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	wantLost(t, lost)
	if err != nil {
		t.Fatalf("Create whose reply was lost once: %v, want success", err)
	}
	b, _ := instance(t, testredis.Addr(t), prefix)
	if id, err := b.Verify(ctx, raw.Reveal()); err != nil || id.ID != k.ID {
		t.Errorf("the new key on another instance: %v", err)
	}
	if _, err := b.Get(ctx, k.ID); err != nil {
		t.Errorf("Get of the new key: %v", err)
	}
	// A second Create of the same record is still refused.
	stored, err := s.Get(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, stored); !errors.Is(err, apikey.ErrExists) {
		t.Errorf("Create of the same key again: %v, want ErrExists", err)
	}
	if _, err := s.Get(ctx, k.ID); err != nil {
		t.Errorf("Get after the refused Create: %v", err)
	}
}

// TestClaimRetriedAfterLostReply: the SET NX that claims a hash, for
// Create and for an Update that brings a new hash, runs twice. The second
// run finds the entry holding what this call wrote: not another key's
// hash.
func TestClaimRetriedAfterLostReply(t *testing.T) {
	k := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	next := apikeytest.NewHash()
	for _, tc := range []struct {
		name string
		hash apikey.Hash
	}{{"Create", k.Hash}, {"Update", next}} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testredis.Prefix(t)
			probe := keys{prefix}
			s, lost, direct := lossyStore(t, prefix, probe.hashIndex(tc.hash))
			if tc.name == "Update" {
				if err := (&Store{rdb: direct, keys: probe}).Create(ctx, k); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error {
					r.PrevHash, r.PrevValidUntil, r.Hash = r.Hash, r.CreatedAt.Add(time.Hour), next
					return nil
				}); err != nil {
					t.Fatalf("Update whose claim's reply was lost once: %v, want success", err)
				}
			} else if err := s.Create(ctx, k); err != nil {
				t.Fatalf("Create whose claim's reply was lost once: %v, want success", err)
			}
			wantLost(t, lost)
			if got, err := s.GetByHash(ctx, tc.hash); err != nil || got.ID != k.ID {
				t.Errorf("GetByHash: %v", err)
			}
		})
	}
}

// TestDeleteRetriedAfterLostReply: Manager.Delete, whose script runs
// twice. The second run finds the record gone by this call: Delete
// succeeds, takes the index entries back, and announces the deletion, so
// that another instance stops accepting the key (a Delete that reported
// ErrNotFound here announced nothing, and the other instance kept the key
// working).
func TestDeleteRetriedAfterLostReply(t *testing.T) {
	prefix := testredis.Prefix(t)
	s, lost, direct := lossyStore(t, prefix, deleteScript.Hash())
	a, err := apikey.NewManager(s, apikey.EnvLive, quiet(), apikey.WithFreshness(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, _ := instance(t, testredis.Addr(t), prefix, apikey.WithFreshness(time.Minute))
	k, raw, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, raw.Reveal()); err != nil {
		t.Fatal(err)
	}
	err = a.Delete(ctx, k.ID)
	wantLost(t, lost)
	if err != nil {
		t.Fatalf("Delete whose reply was lost once: %v, want success", err)
	}
	refusedOn(t, b, raw.Reveal(), apikey.ErrUnknownKey, 2*time.Second)
	if n := direct.Exists(ctx, s.keys.idIndex(k.ID), s.keys.hashIndex(apikey.HashOf(raw.Reveal()))).Val(); n != 0 {
		t.Errorf("%d index entries of the deleted key are left", n)
	}
	if err := a.Delete(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Delete again: %v, want ErrNotFound", err)
	}
}
