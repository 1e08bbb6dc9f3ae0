package redisstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

// fakeClock is a settable clock for WithNow, shared by several stores.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// TestConformanceWithLifetime: a bounded lifetime changes no answer of the
// suite.
func TestConformanceWithLifetime(t *testing.T) {
	c := client(t)
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		return newStore(t, c, WithPrefix(testredis.Prefix(t)), WithMaxLifetime(30*24*time.Hour))
	})
}

// TestForgetsOldEpochs: epochs older than the lifetime bound (plus the
// grace) leave Redis and every mirror, and a store started afterwards
// never reads them; no answer changes on the way.
func TestForgetsOldEpochs(t *testing.T) { testForgetsOldEpochs(t, client(t)) }

// TestForgetsOldEpochsCluster: the same on a real 3-master Redis Cluster.
func TestForgetsOldEpochsCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testredis.Cluster(t)})
	t.Cleanup(func() { c.Close() })
	testForgetsOldEpochs(t, c)
}

func testForgetsOldEpochs(t *testing.T, c redis.UniversalClient) {
	const life = time.Hour
	prefix := testredis.Prefix(t)
	base := time.Now().Truncate(time.Second)
	clk := &fakeClock{t: base}
	opts := []Option{WithPrefix(prefix), WithNow(clk.Now), WithFreshness(100 * time.Hour), WithMaxLifetime(life)}
	a, b := newStore(t, c, opts...), newStore(t, c, opts...)

	old := mk(t, "A", "user0", base) // lives the whole hour
	if err := a.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx, old.ID, base); err != nil { // cached in b's mirror
		t.Fatal(err)
	}
	const n = 500
	revoked := base.Add(time.Second)
	for i := range n {
		if _, err := a.RevokeSubject(ctx, "A", fmt.Sprint("user", i), revoked); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.RevokeTenant(ctx, "B", revoked); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b hears of every epoch", func() bool {
		owners, tenants := b.mirror.t.Scopes()
		return owners >= n && tenants == 2
	})
	fields := func() int64 { return c.HLen(ctx, a.keys.epochs()).Val() - 2 } // less v and boot
	if got := fields(); got != n+1 {
		t.Fatalf("epochs in Redis: %d, want %d", got, n+1)
	}
	cut := revoked.Add(life + session.EpochGrace)
	for _, tc := range []struct {
		name    string
		now     time.Time
		deleted int
		held    int64 // epochs left in Redis
	}{
		{"within the lifetime", base.Add(life / 2), 0, n + 1},
		{"at the cut-off", cut, 0, n + 1},
		{"past the cut-off", cut.Add(time.Second), n + 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(tc.now)
			got, err := a.Forget(ctx, tc.now)
			if err != nil || got != tc.deleted {
				t.Fatalf("Forget = %d, %v; want %d", got, err, tc.deleted)
			}
			if _, err := b.Forget(ctx, tc.now); err != nil {
				t.Fatal(err)
			}
			if got := fields(); got != tc.held {
				t.Errorf("epochs in Redis: %d, want %d", got, tc.held)
			}
			owners, _ := b.mirror.t.Scopes()
			if want := int(tc.held); tc.held > 0 && owners < want-1 || tc.held == 0 && owners != 0 {
				t.Errorf("b's mirror holds %d subjects, Redis %d epochs", owners, tc.held)
			}
			for name, s := range map[string]*Store{"a": a, "b": b} {
				if err := s.Check(ctx, old.ID, tc.now); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("%s: the revoked session answers %v, want ErrNotFound", name, err)
				}
			}
		})
	}
	// A store started now reads no forgotten epoch.
	c2 := newStore(t, c, opts...)
	if owners, tenants := c2.mirror.t.Scopes(); owners != 0 || tenants != 0 {
		t.Errorf("a new store holds %d subjects and %d tenants", owners, tenants)
	}
	// The epoch of a revocation made after forgetting is written anew.
	if _, err := a.RevokeSubject(ctx, "A", "user1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := fields(); got != 1 {
		t.Errorf("epochs in Redis after a new revocation: %d, want 1", got)
	}
}

// TestLifetimeBound: Create and Rotate refuse what would outlive the bound.
func TestLifetimeBound(t *testing.T) {
	s := newStore(t, client(t), WithPrefix(testredis.Prefix(t)), WithMaxLifetime(time.Hour))
	now := time.Now()
	long := mk(t, "A", "alice", now)
	long.ExpiresAt = now.Add(time.Hour + time.Second)
	if err := s.Create(ctx, long); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("Create beyond the lifetime: %v, want ErrInvalid", err)
	}
	x := mk(t, "A", "alice", now)
	x.ExpiresAt = now.Add(time.Minute)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), now, now.Add(2*time.Hour)); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("Rotate beyond the lifetime: %v, want ErrInvalid", err)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), now, now.Add(time.Hour)); err != nil {
		t.Errorf("Rotate to the lifetime: %v", err)
	}
}

// TestLifetimeCapsOlderSessions: a session recorded under a longer
// lifetime (a store without the bound, or SESSION_TTL since lowered) ends
// at its creation plus the bound here, so no forgotten epoch can be what
// kept it dead.
func TestLifetimeCapsOlderSessions(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	unbounded := newStore(t, c, WithPrefix(prefix))
	bounded := newStore(t, c, WithPrefix(prefix), WithMaxLifetime(time.Minute))
	now := time.Now()
	x := mk(t, "A", "alice", now) // an hour
	if err := unbounded.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		live bool
	}{{now.Add(59 * time.Second), true}, {now.Add(time.Minute), false}} {
		if err := bounded.Check(ctx, x.ID, tc.at); (err == nil) != tc.live {
			t.Errorf("Check at %v after creation: %v, live want %v", tc.at.Sub(now), err, tc.live)
		}
	}
}
