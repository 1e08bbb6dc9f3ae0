package session_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		s := session.NewMemoryStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemoryStoreWithJanitor(t *testing.T) {
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		s := session.NewMemoryStore(session.WithJanitor(time.Millisecond))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time   { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)  { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func newClock(t time.Time) *clock { return &clock{t: t} }
func at(sec int) time.Time        { return t0.Add(time.Duration(sec) * time.Second) }
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

// id returns a random 128-bit session or refresh id.
func id(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func mk(t testing.TB, tenant, subject string, created time.Time, ttl time.Duration) session.Session {
	return session.Session{
		ID: id(t), Tenant: tenant, Subject: subject, Roles: []string{"admin"},
		CreatedAt: created, LastSeenAt: created, ExpiresAt: created.Add(ttl), RefreshID: id(t),
	}
}

func TestMemoryJanitorEvictsExpiredAndCovered(t *testing.T) {
	ctx := context.Background()
	clk := newClock(at(0))
	s := session.NewMemoryStore(session.WithClock(clk.Now), session.WithJanitor(time.Millisecond))
	defer s.Close()
	keep := mk(t, "A", "alice", at(0), time.Hour)
	for _, x := range []session.Session{keep, mk(t, "A", "bob", at(0), time.Minute), mk(t, "B", "carol", at(0), time.Minute)} {
		if err := s.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	// A session recorded after a revocation that covers it is dead and
	// swept too.
	if _, err := s.RevokeTenant(ctx, "C", at(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, mk(t, "C", "dave", at(5), time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Set(at(61))
	eventually(t, "the janitor removes the expired and the covered sessions", func() bool { return s.Len() == 1 })
	if err := s.Check(ctx, keep.ID, at(61)); err != nil {
		t.Errorf("janitor removed a live session: %v", err)
	}
}

func TestMemoryLazyEviction(t *testing.T) {
	ctx := context.Background()
	s := session.NewMemoryStore()
	x := mk(t, "A", "alice", at(0), time.Minute)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, x.ID, at(60)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Check at ExpiresAt: %v", err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("after a Check at its expiry the session is still held (Len %d)", n)
	}
	// The id may be reused once the old session expired.
	y := mk(t, "B", "bob", at(120), time.Minute)
	y.ID = x.ID
	if err := s.Create(ctx, y); err != nil {
		t.Errorf("Create over an expired session: %v", err)
	}
}

func TestMemorySweep(t *testing.T) {
	ctx := context.Background()
	s := session.NewMemoryStore()
	for i := range 10 {
		if err := s.Create(ctx, mk(t, "A", fmt.Sprint("user", i), at(0), time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Sweep(at(5 * 60)); n != 5 {
		t.Errorf("Sweep removed %d, want 5", n)
	}
	if n := s.Len(); n != 5 {
		t.Errorf("Len after Sweep = %d, want 5", n)
	}
}

func TestMemoryRevokeUsesClock(t *testing.T) {
	ctx := context.Background()
	clk := newClock(at(0))
	s := session.NewMemoryStore(session.WithClock(clk.Now))
	x := mk(t, "A", "alice", at(0), time.Minute)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	clk.Set(at(60))
	if err := s.Revoke(ctx, x.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Revoke of a session expired by the clock: %v, want ErrNotFound", err)
	}
}

func TestMemoryCheckAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	s := session.NewMemoryStore()
	x := mk(t, "A", "alice", at(0), time.Hour)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	// Epochs on every scope of x, none of which covers it.
	s.RevokeAll(ctx, at(-3))
	s.RevokeTenant(ctx, "A", at(-2))
	s.RevokeSubject(ctx, "A", "alice", at(-1))
	unknown := id(t)
	if n := testing.AllocsPerRun(1000, func() {
		if s.Check(ctx, x.ID, at(1)) != nil || s.Check(ctx, unknown, at(1)) == nil {
			t.Fatal("Check answered wrong")
		}
	}); n != 0 {
		t.Errorf("Check allocates %v times per run, want 0", n)
	}
}

func TestMemoryCloseIsIdempotent(t *testing.T) {
	s := session.NewMemoryStore(session.WithJanitor(time.Hour))
	if err := errors.Join(s.Close(), s.Close()); err != nil {
		t.Fatal(err)
	}
}

func ExampleMemoryStore() {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := session.NewMemoryStore()
	defer s.Close()
	s.Create(ctx, session.Session{
		ID: "s1", Subject: "alice", Tenant: "acme", RefreshID: "r1",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
	})
	fmt.Println(s.Check(ctx, "s1", now.Add(time.Minute)))

	// Refreshing with r1 works once; presenting r1 again revokes the session.
	_, err := s.Rotate(ctx, "s1", "r1", "r2", now.Add(time.Minute), now.Add(time.Hour))
	fmt.Println(err)
	_, err = s.Rotate(ctx, "s1", "r1", "r3", now.Add(2*time.Minute), now.Add(time.Hour))
	fmt.Println(errors.Is(err, session.ErrRefreshReused))
	fmt.Println(errors.Is(s.Check(ctx, "s1", now.Add(2*time.Minute)), session.ErrNotFound))
	// Output:
	// <nil>
	// <nil>
	// true
	// true
}

// benchSessions returns n sessions shaped like production ones: random
// 128-bit ids and refresh ids, one IP each, a user agent out of 20, and
// sessionsPerSubject sessions for each subject across 100 tenants.
func benchSessions(b *testing.B, n, sessionsPerSubject int) []session.Session {
	out := make([]session.Session, n)
	for i := range out {
		subj := i / sessionsPerSubject
		out[i] = session.Session{
			ID:         id(b),
			Subject:    fmt.Sprintf("user-%08d@example.com", subj),
			Tenant:     fmt.Sprintf("tenant-%03d", subj%100),
			Roles:      []string{"tenant_admin"},
			Scopes:     []string{"tokens:issue", "sessions:revoke"},
			CreatedAt:  t0,
			LastSeenAt: t0,
			ExpiresAt:  t0.Add(24 * time.Hour),
			IP:         fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			UserAgent:  fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", 100+i%20, 100+i%20),
			RefreshID:  id(b),
		}
	}
	return out
}

// heapBytesPerSession creates sessions in a store made by newStore and
// reports the live heap the store holds per session.
func heapBytesPerSession(b *testing.B, sessions []session.Session, newStore func() session.Store) float64 {
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newStore()
	for _, x := range sessions {
		if err := s.Create(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(sessions)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(sessions))
}

// BenchmarkMemoryBytesPerSession reports the heap held per session for
// 100k sessions: one session per subject (the worst case: every session
// also pays for its subject) and five per subject.
func BenchmarkMemoryBytesPerSession(b *testing.B) {
	for _, per := range []int{1, 5} {
		b.Run(fmt.Sprintf("sessionsPerSubject=%d", per), func(b *testing.B) {
			sessions := benchSessions(b, 100_000, per)
			var bytes float64
			for b.Loop() {
				bytes = heapBytesPerSession(b, sessions, func() session.Store { return session.NewMemoryStore() })
			}
			b.ReportMetric(bytes, "bytes/session")
		})
	}
}

// BenchmarkMemoryCheck checks the sessions of a store of 100k in turn:
// all of them (each lookup misses the CPU caches, so this measures memory
// latency) or the first 1000 (a hot set that stays in cache).
func BenchmarkMemoryCheck(b *testing.B) {
	ctx := context.Background()
	s := session.NewMemoryStore()
	all := benchSessions(b, 100_000, 5)
	for _, x := range all {
		if err := s.Create(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	// A revocation on some other subject and tenant, so the epochs are
	// not all empty.
	s.RevokeSubject(ctx, "tenant-000", "nobody", t0)
	s.RevokeTenant(ctx, "tenant-none", t0)
	now := t0.Add(time.Hour)
	for _, set := range []struct {
		name     string
		sessions []session.Session
	}{{"hot1k", all[:1000]}, {"all100k", all}} {
		b.Run(set.name, func(b *testing.B) { benchCheck(b, s, set.sessions, now) })
	}
}

func benchCheck(b *testing.B, s session.Store, sessions []session.Session, now time.Time) {
	ctx := context.Background()
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
			i := int(time.Now().UnixNano() % int64(len(sessions)))
			for pb.Next() {
				if s.Check(ctx, sessions[i%len(sessions)].ID, now) != nil {
					b.Fatal("not live")
				}
				i++
			}
		})
	})
}

func BenchmarkMemoryCreate(b *testing.B) {
	ctx := context.Background()
	sessions := benchSessions(b, 100_000, 5)
	s := session.NewMemoryStore()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%len(sessions) == 0 {
			b.StopTimer()
			s = session.NewMemoryStore()
			b.StartTimer()
		}
		if err := s.Create(ctx, sessions[i%len(sessions)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryRotate(b *testing.B) {
	ctx := context.Background()
	s := session.NewMemoryStore()
	x := mk(b, "A", "alice", t0, 24*time.Hour)
	if err := s.Create(ctx, x); err != nil {
		b.Fatal(err)
	}
	ids := []string{"refresh-a", "refresh-b"}
	cur := x.RefreshID
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next := ids[i%2]
		if _, err := s.Rotate(ctx, x.ID, cur, next, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		cur = next
		i++
	}
}

// realisticSessions returns n sessions shaped like production ones, with
// sessionsPerSubject sessions per subject: random canonical 128-bit ids
// and refresh ids, an 8 to 16 character subject, one of 20 tenants of 6
// to 10 characters, an IPv4 address each, one of 20 60-character user
// agents, and one of 3 role/scope grants.
func realisticSessions(b *testing.B, n, sessionsPerSubject int) []session.Session {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	tenants := make([]string, 20)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("%.*s%02d", 4+i%5, "acmecorp", i) // 6..10 chars
	}
	agents := make([]string, 20)
	for i := range agents {
		agents[i] = fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%03d.0) Gecko/20100101 Fx/%03d", 100+i, 100+i)[:60]
	}
	grants := []struct{ roles, scopes []string }{
		{[]string{"member"}, []string{"tokens:issue"}},
		{[]string{"tenant_admin"}, []string{"tokens:issue", "sessions:revoke"}},
		{[]string{"member", "billing"}, []string{"tokens:issue", "invoices:read"}},
	}
	out := make([]session.Session, n)
	var subject string
	for i := range out {
		subj := i / sessionsPerSubject
		if i%sessionsPerSubject == 0 {
			buf := make([]byte, 8+subj%9) // 8..16 chars
			for j := range buf {
				buf[j] = letters[(subj*7+j*13+subj>>j)%len(letters)]
			}
			copy(buf[len(buf)-7:], fmt.Sprintf("%07d", subj%10_000_000))
			subject = string(buf)
		}
		g := grants[i%len(grants)]
		out[i] = session.Session{
			ID:         id(b),
			Subject:    subject,
			Tenant:     tenants[subj%len(tenants)],
			Roles:      g.roles,
			Scopes:     g.scopes,
			CreatedAt:  t0.Add(time.Duration(i)),
			LastSeenAt: t0.Add(time.Duration(i)),
			ExpiresAt:  t0.Add(24 * time.Hour),
			IP:         fmt.Sprintf("%d.%d.%d.%d", 10+i>>24&127, i>>16&255, i>>8&255, i&255),
			UserAgent:  agents[i%len(agents)],
			RefreshID:  id(b),
		}
	}
	return out
}

// BenchmarkMemoryPerSession reports the live heap the memory store holds
// per session at 1,000,000 realistic sessions (see realisticSessions): one
// session per subject, the worst case, and five. It takes a few seconds,
// so it runs only as a benchmark:
//
//	go test -run '^$' -bench MemoryPerSession -benchtime 1x ./session/
func BenchmarkMemoryPerSession(b *testing.B) {
	for _, per := range []int{1, 5} {
		b.Run(fmt.Sprintf("sessions=1M/perSubject=%d", per), func(b *testing.B) {
			sessions := realisticSessions(b, 1_000_000, per)
			var bytes float64
			for b.Loop() {
				bytes = heapBytesPerSession(b, sessions, func() session.Store { return session.NewMemoryStore() })
			}
			b.ReportMetric(bytes, "bytes/session")
		})
	}
}

// BenchmarkRevokeTenant revokes a tenant of 1k, 10k and 100k live
// sessions (among 100k of other tenants). Each iteration first records one
// more session in the tenant (untimed), so every revocation ends at least
// one; the first ends them all, and first-ns/op is its time.
func BenchmarkRevokeTenant(b *testing.B) {
	ctx := context.Background()
	others := realisticSessions(b, 100_000, 1)
	for _, size := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("sessions=%d", size), func(b *testing.B) {
			s := session.NewMemoryStore()
			defer s.Close()
			for _, x := range others {
				if err := s.Create(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
			for i := range size {
				x := mk(b, "big-tenant", fmt.Sprint("user", i), t0, 24*time.Hour)
				if err := s.Create(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
			at := t0.Add(time.Second)
			start := time.Now()
			if n, err := s.RevokeTenant(ctx, "big-tenant", at); err != nil || n != size {
				b.Fatalf("RevokeTenant = %d, %v; want %d", n, err, size)
			}
			first := time.Since(start)
			for b.Loop() {
				b.StopTimer()
				x := mk(b, "big-tenant", "late", at, time.Hour)
				if err := s.Create(ctx, x); err != nil {
					b.Fatal(err)
				}
				at = at.Add(time.Nanosecond)
				b.StartTimer()
				if n, err := s.RevokeTenant(ctx, "big-tenant", at); err != nil || n != 1 {
					b.Fatalf("RevokeTenant = %d, %v; want 1", n, err)
				}
			}
			b.ReportMetric(float64(first.Nanoseconds()), "first-ns/op")
		})
	}
}
