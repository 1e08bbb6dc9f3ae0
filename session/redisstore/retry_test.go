package redisstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
)

// The serving client keeps go-redis's default of three retries
// (cmd/relayauth/redisurl.go): a command whose connection drops after it
// reached Redis (network failure, failover, read timeout) is sent again,
// and has then run twice. These tests lose the reply of one script run
// and check that the store's answer and Redis's state are those of a
// single run.

// lossyStore returns a store whose client, with go-redis's default
// retries, loses the reply to the first run of script, and a client that
// reaches Redis directly.
func lossyStore(t *testing.T, script *redis.Script) (s *Store, lost func() int, direct *redis.Client) {
	t.Helper()
	addr := testredis.Addr(t)
	direct = client(t)
	// Loaded first, so the first run is the EVALSHA the proxy watches for
	// and not a NOSCRIPT answer.
	if err := script.Load(ctx, direct).Err(); err != nil {
		t.Fatal(err)
	}
	paddr, lost := testredis.LoseReply(t, addr, []byte(script.Hash()))
	c := redis.NewClient(&redis.Options{Addr: paddr})
	t.Cleanup(func() { c.Close() })
	return newStore(t, c, WithPrefix(testredis.Prefix(t))), lost, direct
}

// TestRotateRetriedAfterLostReply: one legitimate refresh, whose rotate
// script runs twice. The second run finds the refresh id this call
// installed and answers as the first did: no reuse, no revocation.
func TestRotateRetriedAfterLostReply(t *testing.T) {
	s, lost, direct := lossyStore(t, rotateScript)
	x := mk(t, "acme", "alice", soon())
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	var published []string
	watch := direct.Subscribe(ctx, s.keys.revocations())
	t.Cleanup(func() { watch.Close() })
	if _, err := watch.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	now := x.CreatedAt.Add(time.Minute)
	next := id(t)
	got, err := s.Rotate(ctx, x.ID, x.RefreshID, next, now, now.Add(time.Hour))
	if lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", lost())
	}
	if err != nil {
		t.Fatalf("Rotate whose reply was lost once: %v, want success", err)
	}
	if got.RefreshID != next || !got.LastSeenAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("Rotate returned refresh id %q, last seen %v, expiry %v; want %q, %v, %v",
			got.RefreshID, got.LastSeenAt, got.ExpiresAt, next, now, now.Add(time.Hour))
	}
	raw := direct.HGetAll(ctx, s.keys.session(x.ID)).Val()
	if raw["rvk"] != "" || raw["rid"] != next {
		t.Errorf("session in Redis: rid %q, rvk %q; want rid %q and not revoked", raw["rid"], raw["rvk"], next)
	}
	if err := s.Check(ctx, x.ID, now); err != nil {
		t.Errorf("Check after the refresh: %v", err)
	}
	// The new refresh id works; the presented one is now reuse.
	next2 := id(t)
	if _, err := s.Rotate(ctx, x.ID, next, next2, now.Add(time.Second), now.Add(time.Hour)); err != nil {
		t.Errorf("Rotate with the refresh id the retried call installed: %v", err)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), now.Add(2*time.Second), now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Errorf("Rotate with the refresh id used before: %v, want ErrRefreshReused", err)
	}
	// Only that reuse was published: none for the retried refresh.
	for {
		m, err := watch.ReceiveTimeout(ctx, 200*time.Millisecond)
		if err != nil {
			break
		}
		if m, ok := m.(*redis.Message); ok {
			published = append(published, m.Payload)
		}
	}
	if len(published) != 1 {
		t.Errorf("revocations published: %q, want one (the reuse at the end)", published)
	}
}

// TestRotateReuseRetriedAfterLostReply: a reuse, whose rotate script runs
// twice. The first run revoked the session and published it; the second
// must answer as the first did, so that Rotate still writes the
// revocation to the log that reconciliation reads.
func TestRotateReuseRetriedAfterLostReply(t *testing.T) {
	s, lost, direct := lossyStore(t, rotateScript)
	x := mk(t, "acme", "alice", soon())
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	now := x.CreatedAt.Add(time.Minute)
	// The legitimate refresh, straight to Redis, so that its reply is not
	// the one lost.
	if _, err := rotateScript.Run(ctx, direct, []string{s.keys.session(x.ID)}, x.RefreshID, id(t),
		itoa(now.UnixNano()), itoa(now.Add(time.Hour).UnixNano()), itoa(ceilMillis(now.Add(time.Hour).UnixNano())),
		s.keys.revocations(), "unused").Result(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), now.Add(time.Second), now.Add(time.Hour))
	if lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", lost())
	}
	if !errors.Is(err, session.ErrRefreshReused) {
		t.Fatalf("Rotate with a used refresh id: %v, want ErrRefreshReused", err)
	}
	log := direct.XRange(ctx, s.keys.revokedLog(), "-", "+").Val()
	if !slices.ContainsFunc(log, func(m redis.XMessage) bool { return m.Values["id"] == x.ID }) {
		t.Errorf("the revocation for reuse is missing from the revocation log: %v", log)
	}
	wantDeadHere(t, s, x.ID, now.Add(time.Second))
}

// TestCreateRetriedAfterLostReply: Create's script runs twice. The second
// run finds the session this call wrote and reports it created, not
// taken; Create goes on to index it.
func TestCreateRetriedAfterLostReply(t *testing.T) {
	s, lost, _ := lossyStore(t, createScript)
	x := mk(t, "acme", "alice", soon())
	err := s.Create(ctx, x)
	if lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", lost())
	}
	if err != nil {
		t.Fatalf("Create whose reply was lost once: %v, want success", err)
	}
	list, err := s.List(ctx, session.Filter{Tenant: "acme"}, x.CreatedAt)
	if err != nil || len(list) != 1 || list[0].ID != x.ID {
		t.Errorf("List after Create: %v, %v; want the session", list, err)
	}
	// A second Create of the same id is still refused.
	if err := s.Create(ctx, x); !errors.Is(err, session.ErrExists) {
		t.Errorf("Create again: %v, want ErrExists", err)
	}
}

func wantDeadHere(t *testing.T, s *Store, id string, now time.Time) {
	t.Helper()
	if _, err := s.Get(ctx, id, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get(%s): %v, want ErrNotFound", id, err)
	}
	if err := s.Check(ctx, id, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Check(%s): %v, want ErrNotFound", id, err)
	}
}
