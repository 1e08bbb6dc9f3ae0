package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

var ctx = context.Background()

// client returns a client of the shared test server, closed with the test.
func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testredis.Addr(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a store under a prefix of its own, closed with the test.
func newStore(t testing.TB, c redis.UniversalClient, opts ...Option) *Store {
	t.Helper()
	s, err := New(ctx, c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if strings.HasPrefix(s.keys.prefix, "relaytest:") {
			dropKeys(t, c, s.keys.prefix)
		}
	})
	return s
}

// dropKeys deletes a test's keys from the shared server.
func dropKeys(t testing.TB, c redis.UniversalClient, prefix string) {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var doomed []string
	for iter.Next(ctx) {
		doomed = append(doomed, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up %s*: %v", prefix, err)
		return
	}
	for chunk := range slices.Chunk(doomed, 500) {
		c.Unlink(ctx, chunk...)
	}
}

func TestConformance(t *testing.T) {
	c := client(t)
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		return newStore(t, c, WithPrefix(testredis.Prefix(t)))
	})
}

func id(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// soon is a CreatedAt near the wall clock, so Redis keeps the keys.
func soon() time.Time { return time.Now().Add(time.Minute).Round(0) }

func mk(t testing.TB, tenant, subject string, created time.Time) session.Session {
	return session.Session{
		ID: id(t), Tenant: tenant, Subject: subject, Roles: []string{"admin"}, Scopes: []string{"tokens:issue"},
		CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(time.Hour),
		IP: "198.51.100.1", UserAgent: "test", RefreshID: id(t),
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestartSurvival: sessions outlive the store that wrote them; a new
// store on a new client, with an empty mirror, serves them all.
func TestRestartSurvival(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	now := soon()
	c1 := redis.NewClient(&redis.Options{Addr: addr})
	s1, err := New(ctx, c1, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	a, b := mk(t, "A", "alice", now), mk(t, "A", "bob", now.Add(1))
	for _, x := range []session.Session{a, b} {
		if err := s1.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s1.RevokeSubject(ctx, "A", "bob", now.Add(2)); err != nil {
		t.Fatal(err)
	}
	late := mk(t, "A", "bob", now.Add(1)) // recorded after the revocation, covered by it
	if err := s1.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	c1.Close()

	s2 := newStore(t, client(t), WithPrefix(prefix))
	if n, _ := s2.mirrorLen(); n != 0 {
		t.Fatalf("a new store's mirror holds %d sessions", n)
	}
	if err := s2.Check(ctx, a.ID, now); err != nil {
		t.Errorf("Check after restart: %v", err)
	}
	// The epoch came back from Redis, not from the first store's memory.
	if err := s2.Check(ctx, late.ID, now.Add(3)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Check of a session covered before the restart: %v, want ErrNotFound", err)
	}
	got, err := s2.Get(ctx, a.ID, now)
	if err != nil || got.Subject != "alice" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("Get after restart = %+v, %v", got, err)
	}
	list, err := s2.List(ctx, session.Filter{Tenant: "A"}, now)
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("List after restart = %v, %v; want only %s", list, err, a.ID)
	}
	if _, err := s2.Rotate(ctx, a.ID, a.RefreshID, "next", now, now.Add(time.Hour)); err != nil {
		t.Errorf("Rotate after restart: %v", err)
	}
	if _, err := s2.Rotate(ctx, a.ID, a.RefreshID, "again", now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Errorf("reuse after restart: %v, want ErrRefreshReused", err)
	}
}

// TestMirrorAnswersWithoutRedis: after the first load, Check does not go
// to Redis. Proven by deleting the key behind the store's back.
func TestMirrorAnswersWithoutRedis(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	c.Del(ctx, s.keys.session(x.ID))
	if err := s.Check(ctx, x.ID, now); err != nil {
		t.Errorf("Check of a mirrored session went to Redis: %v", err)
	}
}

// TestNegativeCache: an id Redis does not know costs one read, then is
// answered locally until the entry's ttl passes; the cache stays bounded.
func TestNegativeCache(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)), WithNegativeCache(4, time.Hour))
	now := soon()
	ghost := id(t)
	if err := s.Check(ctx, ghost, now); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Check of an unknown id: %v", err)
	}
	// Someone writes the id behind the store's back: the cached miss
	// still answers, so no Redis read happened.
	x := mk(t, "A", "alice", now)
	x.ID = ghost
	other := newStore(t, c, WithPrefix(s.keys.prefix))
	if err := other.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, ghost, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("second Check of a cached miss: %v, want ErrNotFound without a Redis read", err)
	}
	for range 100 {
		s.Check(ctx, id(t), now)
	}
	if _, n := s.mirrorLen(); n > 4 {
		t.Errorf("negative cache holds %d ids, bound is 4", n)
	}
}

// counter is a go-redis hook that counts the commands sent about session
// keys.
type counter struct {
	mu     sync.Mutex
	prefix string // of session keys
	n      int
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); len(args) > 1 {
			if key, ok := args[1].(string); ok && strings.HasPrefix(key, c.prefix) {
				c.mu.Lock()
				c.n++
				c.mu.Unlock()
			}
		}
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (c *counter) get() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// TestFloodOfDeadTokens: many concurrent Checks naming one session the
// mirror does not hold cost one Redis read, and so do repeated Checks of a
// dead id.
func TestFloodOfDeadTokens(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testredis.Addr(t)})
	t.Cleanup(func() { c.Close() })
	prefix := testredis.Prefix(t)
	count := &counter{prefix: prefix + "s:"}
	c.AddHook(count)
	s := newStore(t, c, WithPrefix(prefix))
	writer := newStore(t, client(t), WithPrefix(prefix))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := writer.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	dead := id(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := s.Check(ctx, x.ID, now); err != nil {
				t.Errorf("Check of a session another store created: %v", err)
			}
			if err := s.Check(ctx, dead, now); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Check of an unknown id: %v", err)
			}
		})
	}
	wg.Wait()
	// One read each; a few more at most where a Check arrived just after
	// the shared read finished and before its result was cached.
	if n := count.get(); n > 6 {
		t.Errorf("100 concurrent Checks of 2 ids sent %d session reads", n)
	}
	t.Logf("%d session reads for 100 concurrent Checks", count.get())
	before := count.get()
	for range 100 {
		s.Check(ctx, dead, now)
		s.Check(ctx, x.ID, now)
	}
	if n := count.get() - before; n != 0 {
		t.Errorf("200 repeated Checks sent %d session reads, want 0", n)
	}
}

// TestRevocationByAnotherInstance: a mass revocation made through one
// store reaches another store's mirror within freshness/4.
func TestRevocationByAnotherInstance(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	s1 := newStore(t, c, WithPrefix(prefix), WithFreshness(400*time.Millisecond))
	s2 := newStore(t, c, WithPrefix(prefix), WithFreshness(400*time.Millisecond))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s1.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s2.Check(ctx, x.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.RevokeTenant(ctx, "A", now.Add(1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the other instance sees the tenant revocation", func() bool {
		return errors.Is(s2.Check(ctx, x.ID, now.Add(2)), session.ErrNotFound)
	})
}

// TestKeyEscaping: tenants and subjects that look like key syntax cannot
// reach another tenant's keys.
func TestKeyEscaping(t *testing.T) {
	k := keys{"p:"}
	if a, b := k.subjectIndex("a", "b}:u:c"), k.subjectIndex("a}:u:b", "c"); a == b {
		t.Errorf("two (tenant, subject) pairs share the key %q", a)
	}
	for _, s := range []string{"", "plain", "a:b", "{x}", "%7B", "100%", "::{}%"} {
		if got, ok := unescape(escape(s)); !ok || got != s {
			t.Errorf("unescape(escape(%q)) = %q, %v", s, got, ok)
		}
		for _, f := range []string{tenantField(s), subjectField(s, s+":x")} {
			if _, ok := parseEpochField(f); !ok {
				t.Errorf("parseEpochField(%q) failed", f)
			}
		}
	}
	if _, err := New(ctx, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), WithPrefix("a{b}")); err == nil {
		t.Error("New accepted a prefix with a hash tag")
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("tenant-{a}:1")
	f.Add("%%7B")
	f.Fuzz(func(t *testing.T, s string) {
		e := escape(s)
		if got, ok := unescape(e); !ok || got != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, got, ok)
		}
		for _, c := range []byte(e) {
			if c == '{' || c == '}' || c == ':' {
				t.Fatalf("escape(%q) = %q keeps a key metacharacter", s, e)
			}
		}
	})
}

// TestDataLossClearsMirror: if Redis loses its data, the mirror stops
// vouching for sessions it had cached.
func TestDataLossClearsMirror(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)), WithFreshness(200*time.Millisecond))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	// What a restart without persistence or a flush does to our keys.
	c.Del(ctx, s.keys.epochs(), s.keys.session(x.ID))
	eventually(t, 2*time.Second, "the mirror forgets the lost session", func() bool {
		return errors.Is(s.Check(ctx, x.ID, now), session.ErrNotFound)
	})
}

// TestOutageFailsClosed is security.md 14: when Redis is gone, Check
// refuses every session within the freshness window, and recovers on its
// own when Redis returns.
func TestOutageFailsClosed(t *testing.T) {
	dir := t.TempDir()
	srv := testredis.Start(t, 0, dir)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	const freshness = 300 * time.Millisecond
	s := newStore(t, c, WithFreshness(freshness))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, x.ID, now); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	killed := time.Now()
	eventually(t, 5*time.Second, "Check fails closed", func() bool {
		return errors.Is(s.Check(ctx, x.ID, now), session.ErrUnavailable)
	})
	// Fail closed means within the window (plus one read interval and
	// scheduling slack), not eventually.
	if took := time.Since(killed); took > freshness+freshness/4+time.Second {
		t.Errorf("Check failed closed only after %v (freshness %v)", took, freshness)
	}
	for _, err := range []error{
		s.Check(ctx, id(t), now),
		s.Create(ctx, mk(t, "A", "alice", now)),
		s.Ping(ctx),
		s.Revoke(ctx, x.ID),
	} {
		if !errors.Is(err, session.ErrUnavailable) {
			t.Errorf("during the outage: %v, want ErrUnavailable", err)
		}
	}
	if _, err := s.Get(ctx, x.ID, now); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Get during the outage: %v, want ErrUnavailable", err)
	}
	if _, err := s.RevokeAll(ctx, now); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("RevokeAll during the outage: %v, want ErrUnavailable", err)
	}

	// Same port, same append-only file: the data is back.
	srv.Restart()
	eventually(t, 5*time.Second, "Check recovers", func() bool {
		return !errors.Is(s.Check(ctx, x.ID, now), session.ErrUnavailable)
	})
	// The Revoke during the outage failed in Redis but holds locally:
	// this instance never vouches again for a session it was told to end.
	if err := s.Check(ctx, x.ID, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Check after recovery of a session revoked during the outage: %v, want ErrNotFound", err)
	}
	y := mk(t, "A", "alice", now)
	if err := s.Create(ctx, y); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, y.ID, now); err != nil {
		t.Errorf("Check after recovery: %v", err)
	}
}

// TestOutageWithDataLoss: Redis comes back empty; the sessions it lost are
// unknown, not live.
func TestOutageWithDataLoss(t *testing.T) {
	dir := t.TempDir()
	srv := testredis.Start(t, 0, dir)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	s := newStore(t, c, WithFreshness(300*time.Millisecond))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	eventually(t, 5*time.Second, "Check fails closed", func() bool {
		return errors.Is(s.Check(ctx, x.ID, now), session.ErrUnavailable)
	})
	empty := t.TempDir()
	testredis.Start(t, srv.Port, empty)
	eventually(t, 5*time.Second, "Check recovers", func() bool {
		return !errors.Is(s.Check(ctx, x.ID, now), session.ErrUnavailable)
	})
	if err := s.Check(ctx, x.ID, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Check of a session Redis lost: %v, want ErrNotFound", err)
	}
}

// TestStaleByClock: freshness is judged on the store's clock; a clock
// that runs past the window with no contact fails closed.
func TestStaleByClock(t *testing.T) {
	var mu sync.Mutex
	wall := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	s := newStore(t, client(t), WithPrefix(testredis.Prefix(t)), WithNow(clock), WithFreshness(time.Hour))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, x.ID, now); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	wall = wall.Add(time.Hour + time.Nanosecond)
	mu.Unlock()
	// The watchdog looks every freshness/16 of real time, too rarely to
	// wait for here: wake it the way a contact does.
	s.kick <- struct{}{}
	eventually(t, time.Second, "Check fails closed", func() bool {
		return errors.Is(s.Check(ctx, x.ID, now), session.ErrUnavailable)
	})
}

func TestClosedStoreStopsVouching(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.Close(), s.Close()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, x.ID, now); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Check after Close: %v, want ErrUnavailable", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("Close closed the caller's client: %v", err)
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	s := newStore(t, client(t), WithPrefix(testredis.Prefix(t)))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if s.Check(ctx, x.ID, now) != nil {
			t.Fatal("not live")
		}
	}); n != 0 {
		t.Errorf("Check allocates %v times per run, want 0", n)
	}
}

func benchSessions(b *testing.B, n int) []session.Session {
	now := soon()
	out := make([]session.Session, n)
	for i := range out {
		out[i] = mk(b, fmt.Sprintf("tenant-%03d", i%100), fmt.Sprintf("user-%06d", i/5), now)
	}
	return out
}

func BenchmarkCheck(b *testing.B) {
	s := newStore(b, client(b), WithPrefix(testredis.Prefix(b)))
	sessions := benchSessions(b, 1000)
	for _, x := range sessions {
		if err := s.Create(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	now := sessions[0].CreatedAt
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if s.Check(ctx, sessions[i%len(sessions)].ID, now) != nil {
				b.Fatal("not live")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if s.Check(ctx, sessions[i%len(sessions)].ID, now) != nil {
					b.Fatal("not live")
				}
				i++
			}
		})
	})
}

func BenchmarkCreate(b *testing.B) {
	s := newStore(b, client(b), WithPrefix(testredis.Prefix(b)))
	now := soon()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Create(ctx, mk(b, "tenant", "alice", now)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotate(b *testing.B) {
	s := newStore(b, client(b), WithPrefix(testredis.Prefix(b)))
	now := soon()
	x := mk(b, "tenant", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		b.Fatal(err)
	}
	cur, ids := x.RefreshID, []string{"refresh-a", "refresh-b"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next := ids[i%2]
		if _, err := s.Rotate(ctx, x.ID, cur, next, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		cur = next
		i++
	}
}
