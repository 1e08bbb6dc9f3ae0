package redisstore

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
)

// observed collects what a propagation observer saw.
type observed struct {
	mu sync.Mutex
	d  []time.Duration
}

func (o *observed) observe(d time.Duration) { o.mu.Lock(); o.d = append(o.d, d); o.mu.Unlock() }

func (o *observed) all() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.d...)
}

// instance is a store on a client of its own, as on another server.
func instance(t *testing.T, addr, name string, opts ...Option) (*Store, *redis.Client) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ClientName: name, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return newStore(t, c, opts...), c
}

// revokedOn polls Check on s until the session is refused as revoked,
// which must happen within the given time, and returns how long that
// took. Until then Check may still accept it (the revocation is on its
// way); from then on it must never again.
func revokedOn(t *testing.T, s *Store, sid string, now time.Time, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := s.Check(ctx, sid, now)
		if errors.Is(err, session.ErrNotFound) {
			break
		}
		if err != nil && !errors.Is(err, session.ErrUnavailable) {
			t.Fatalf("Check: %v", err)
		}
		if time.Since(start) > within {
			t.Fatalf("the revocation did not reach the other instance within %v (last: %v)", within, err)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	for range 20 {
		if err := s.Check(ctx, sid, now); err == nil {
			t.Fatalf("a session refused as revoked was accepted again")
		}
	}
	return took
}

// TestPropagationPush: a single revocation on A reaches B's mirror, which
// had the session cached, by pub/sub: well before B's next
// reconciliation (freshness/4 = 5s here).
func TestPropagationPush(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	var obs observed
	a, _ := instance(t, addr, "A", WithPrefix(prefix), WithFreshness(20*time.Second))
	b, _ := instance(t, addr, "B", WithPrefix(prefix), WithFreshness(20*time.Second), WithPropagationObserver(obs.observe))
	now := soon()

	for _, how := range []string{"Revoke", "Rotate reuse", "RevokeSubject", "RevokeTenant", "RevokeAll"} {
		t.Run(how, func(t *testing.T) {
			tenant := "T-" + strings.ReplaceAll(how, " ", "-")
			x := mk(t, tenant, "alice", now)
			if err := a.Create(ctx, x); err != nil {
				t.Fatal(err)
			}
			if err := b.Check(ctx, x.ID, now); err != nil { // loaded on a miss, then cached
				t.Fatalf("Check on B of a session A created: %v", err)
			}
			before := len(obs.all())
			switch how {
			case "Revoke":
				if err := a.Revoke(ctx, x.ID); err != nil {
					t.Fatal(err)
				}
			case "Rotate reuse":
				if _, err := a.Rotate(ctx, x.ID, "not-the-refresh-id", "next", now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
					t.Fatalf("Rotate with a stale refresh id: %v", err)
				}
			case "RevokeSubject":
				if _, err := a.RevokeSubject(ctx, tenant, "alice", now.Add(1)); err != nil {
					t.Fatal(err)
				}
			case "RevokeTenant":
				if _, err := a.RevokeTenant(ctx, tenant, now.Add(1)); err != nil {
					t.Fatal(err)
				}
			case "RevokeAll":
				if _, err := a.RevokeAll(ctx, now.Add(1)); err != nil {
					t.Fatal(err)
				}
			}
			took := revokedOn(t, b, x.ID, now.Add(2), 2*time.Second)
			t.Logf("%s on A refused on B after %v", how, took)
			var got []time.Duration
			for len(got) == 0 {
				got = obs.all()[before:]
				if len(got) == 0 {
					time.Sleep(time.Millisecond) // the observer runs right after apply
				}
			}
			for _, d := range got {
				if d < 0 || d > 2*time.Second {
					t.Errorf("propagation observed as %v", d)
				}
			}
			t.Logf("observed propagation: %v", got)
		})
	}
}

// TestPropagationLostMessage: B misses the message (dropped as if lost);
// reconciliation revokes the session within the freshness window.
func TestPropagationLostMessage(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	const freshness = 400 * time.Millisecond
	var obs observed
	a, _ := instance(t, addr, "A", WithPrefix(prefix), WithFreshness(freshness))
	b, _ := instance(t, addr, "B", WithPrefix(prefix), WithFreshness(freshness), WithPropagationObserver(obs.observe))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := a.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx, x.ID, now); err != nil {
		t.Fatal(err)
	}
	b.dropMessages.Store(true)
	if err := a.Revoke(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	took := revokedOn(t, b, x.ID, now, freshness)
	t.Logf("lost message: reconciled on B after %v (freshness %v)", took, freshness)
	if got := obs.all(); len(got) != 1 || got[0] > 2*time.Second {
		t.Errorf("observed %v, want one propagation time from reconciliation", got)
	}
}

// TestPropagationLogTrimmed: B misses the message AND the log entry: it
// was trimmed before B read it (as when B falls more than logRetention
// behind). Trimming does not move Redis's max-deleted-entry-id, so B must
// tell from the entries-added count; it forgets its mirror and reloads
// the session from Redis, where it is gone.
func TestPropagationLogTrimmed(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	a, ca := instance(t, addr, "A", WithPrefix(prefix), WithFreshness(time.Minute))
	b, _ := instance(t, addr, "B", WithPrefix(prefix), WithFreshness(time.Minute))
	now := soon()
	for _, keep := range []int64{0, 1} { // all of it, or only the newest entry of two
		x, y := mk(t, "T", "alice", now), mk(t, "T", "bob", now)
		for _, s := range []session.Session{x, y} {
			if err := a.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := b.Check(ctx, s.ID, now); err != nil {
				t.Fatal(err)
			}
		}
		b.dropMessages.Store(true)
		if err := a.Revoke(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		if err := a.Revoke(ctx, y.ID); err != nil {
			t.Fatal(err)
		}
		if err := ca.XTrimMaxLen(ctx, a.keys.revokedLog(), keep).Err(); err != nil {
			t.Fatal(err)
		}
		if err := b.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		b.dropMessages.Store(false)
		for _, s := range []session.Session{x, y} {
			if err := b.Check(ctx, s.ID, now); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("keep %d: B answers %v for a session revoked in a trimmed log entry", keep, err)
			}
		}
	}
}

// TestPropagationSubscriptionCut: B's subscription connection is killed
// on the server (CLIENT KILL) and the revocation is published while it is
// down; B subscribes again, reconciles, and refuses the session, never
// accepting it meanwhile. Its state is fresh again afterwards.
func TestPropagationSubscriptionCut(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	const freshness = 2 * time.Second
	name := "B-" + strings.Trim(strings.ReplaceAll(prefix, ":", "-"), "-")
	a, ca := instance(t, addr, "A", WithPrefix(prefix), WithFreshness(freshness))
	b, _ := instance(t, addr, name, WithPrefix(prefix), WithFreshness(freshness))
	now := soon()
	x, y := mk(t, "A", "alice", now), mk(t, "A", "bob", now)
	for _, s := range []session.Session{x, y} {
		if err := a.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := b.Check(ctx, s.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	killed := 0
	for line := range strings.Lines(ca.ClientList(ctx).Val()) {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " cmd=subscribe") {
			f := strings.Fields(line)
			id, _ := strconv.ParseInt(strings.TrimPrefix(f[0], "id="), 10, 64)
			if err := ca.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscription connections of B, want 1:\n%s", killed, ca.ClientList(ctx).Val())
	}
	if err := a.Revoke(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	took := revokedOn(t, b, x.ID, now, freshness)
	t.Logf("subscription cut: revoked on B after %v", took)
	eventually(t, freshness, "B is fresh again", func() bool { return b.Check(ctx, y.ID, now) == nil })
	if age := b.StateAge(); age > freshness {
		t.Errorf("StateAge = %v after recovery", age)
	}
}

// TestPropagationRedisKilled: Redis dies (SIGKILL) right after a
// revocation that B did not hear. No Check on either instance accepts the
// revoked session at any point; a valid one gets ErrUnavailable while
// Redis is gone; both recover within 10s of Redis returning.
func TestPropagationRedisKilled(t *testing.T) {
	srv := testredis.Start(t, 0, t.TempDir())
	const freshness = 300 * time.Millisecond
	a, _ := instance(t, srv.Addr(), "A", WithFreshness(freshness))
	b, _ := instance(t, srv.Addr(), "B", WithFreshness(freshness))
	now := soon()
	x, y := mk(t, "A", "alice", now), mk(t, "A", "bob", now)
	for _, s := range []session.Session{x, y} {
		if err := a.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := b.Check(ctx, s.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	b.dropMessages.Store(true) // B learns of it only by reconciliation
	if err := a.Revoke(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	srv.Kill()
	stores := map[string]*Store{"A": a, "B": b}
	// The SLA: B, which missed the message, may vouch for the session
	// until its state is older than the freshness window (the watchdog
	// looks every freshness/16; plus scheduling slack), never after.
	sla := revoked.Add(freshness + freshness/16 + 50*time.Millisecond)
	never := func() {
		for name, s := range stores {
			if s.Check(ctx, x.ID, now) == nil && (name == "A" || time.Now().After(sla)) {
				t.Fatalf("%s accepted the revoked session %v after the revocation", name, time.Since(revoked))
			}
		}
	}
	for name, s := range stores {
		eventually(t, 5*time.Second, name+" fails closed", func() bool {
			never()
			return errors.Is(s.Check(ctx, y.ID, now), session.ErrUnavailable)
		})
		eventually(t, 2*freshness, name+"'s StateAge passes the freshness window", func() bool {
			never()
			return s.StateAge() > freshness
		})
	}
	srv.Restart()
	back := time.Now()
	for name, s := range stores {
		eventually(t, 10*time.Second-time.Since(back), name+" recovers", func() bool {
			never()
			return s.Check(ctx, y.ID, now) == nil
		})
		if err := s.Check(ctx, x.ID, now); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s after recovery: Check of the revoked session = %v, want ErrNotFound", name, err)
		}
	}
	t.Logf("both recovered %v after Redis returned", time.Since(back))
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
		m  message
	}{
		{"s 12 id with space", true, message{kind: 's', made: 12, id: "id with space"}},
		{"e 5 7 g", true, message{kind: 'e', made: 5, instant: 7, scope: scope{kind: kindAll}}},
		{"e 5 7 " + subjectField("t:1", "u 2"), true, message{kind: 'e', made: 5, instant: 7, scope: scope{kindSubject, "t:1", "u 2"}}},
		{"s 12 ", false, message{}},
		{"s x id", false, message{}},
		{"e 5 7 v", false, message{}},
		{"x 1 2", false, message{}},
		{"", false, message{}},
	} {
		m, ok := parseMessage(tc.in)
		if ok != tc.ok || (ok && m != tc.m) {
			t.Errorf("parseMessage(%q) = %+v, %v; want %+v, %v", tc.in, m, ok, tc.m, tc.ok)
		}
	}
}

// TestPropagationCluster: on Redis Cluster, the message published inside
// a script on one node reaches a subscriber on another, and the log is
// read back.
func TestPropagationCluster(t *testing.T) {
	addrs := testredis.Cluster(t)
	prefix := testredis.Prefix(t)
	store := func(opts ...Option) *Store {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { c.Close() })
		return newStore(t, c, append([]Option{WithPrefix(prefix)}, opts...)...)
	}
	a, b := store(WithFreshness(20*time.Second)), store(WithFreshness(400*time.Millisecond))
	now := soon()
	for _, lose := range []bool{false, true} {
		x := mk(t, "A", "alice", now)
		if err := a.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
		if err := b.Check(ctx, x.ID, now); err != nil {
			t.Fatal(err)
		}
		b.dropMessages.Store(lose)
		if err := a.Revoke(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		t.Logf("message lost %v: refused on B after %v", lose, revokedOn(t, b, x.ID, now, 2*time.Second))
	}
}

// The watchdog judges every freshness/16, so a contact must count only
// until one judgement before the window ends: then the last judgement
// that says fresh is still inside the window. No Redis needed.
func TestJudgeEndsWithinTheWindow(t *testing.T) {
	s := &Store{freshness: int64(1600 * time.Millisecond)}
	tick := s.watchTick()
	if tick != int64(100*time.Millisecond) {
		t.Fatalf("tick %v", time.Duration(tick))
	}
	const last = int64(1_000_000_000_000)
	s.lastContact.Store(last)
	s.subSince.Store(last - 1)
	s.sub.Store(1) // up
	for _, tc := range []struct {
		at    int64
		fresh bool
	}{
		{last, true},
		{last + s.freshness - tick, true},
		{last + s.freshness - tick + 1, false}, // the next judgement could come at last+freshness+1
		{last + s.freshness, false},
	} {
		if got := s.judge(tc.at); got != tc.fresh {
			t.Errorf("judge(last+%v) = %v", time.Duration(tc.at-last), got)
		}
	}
	s.sub.Store(2) // down
	if s.judge(last) {
		t.Error("fresh with the subscription down")
	}
	s.sub.Store(3)             // up again
	s.subSince.Store(last + 1) // after the last contact
	if s.judge(last + 1) {
		t.Error("fresh on a contact older than the subscription")
	}
}
