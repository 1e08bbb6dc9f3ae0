package redisstore

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/testredis"
)

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

// instance is a Manager on a store on a client of its own, as on another
// server. An empty prefix is the default one, for a server of the test's
// own: nothing is cleaned up.
func instance(t *testing.T, addr, prefix string, opts ...apikey.Option) (*apikey.Manager, *Store) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	var s *Store
	if prefix == "" {
		// A server of the test's own, which may be dead at clean-up.
		var err error
		if s, err = New(ctx, c); err != nil {
			t.Fatal(err)
		}
	} else {
		s = newStore(t, c, prefix)
	}
	opts = append([]apikey.Option{apikey.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	m, err := apikey.NewManager(s, apikey.EnvLive, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, s
}

// refusedOn polls Verify on m until it refuses raw as want, which must
// happen within the given time; from then on it must never accept raw.
func refusedOn(t *testing.T, m *apikey.Manager, raw string, want error, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := m.Verify(ctx, raw)
		if errors.Is(err, want) {
			break
		}
		if err != nil && !errors.Is(err, relayauth.ErrUnavailable) {
			t.Fatalf("Verify: %v", err)
		}
		if time.Since(start) > within {
			t.Fatalf("the change did not reach the other Manager within %v (last: %v)", within, err)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	for range 20 {
		if _, err := m.Verify(ctx, raw); err == nil {
			t.Fatal("a refused key was accepted again")
		}
	}
	return took
}

// TestPropagationPush: Revoke and Rotate (grace 0) on A reach B, which
// had the key in its index, by pub/sub, well before B's next
// reconciliation (freshness/4 = 5s here).
func TestPropagationPush(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	var obs observed
	a, _ := instance(t, addr, prefix, apikey.WithFreshness(20*time.Second))
	b, _ := instance(t, addr, prefix, apikey.WithFreshness(20*time.Second), apikey.WithPropagationObserver(obs.observe))
	for _, how := range []string{"Revoke", "Rotate", "Delete"} {
		t.Run(how, func(t *testing.T) {
			k, raw, err := a.Create(ctx, apikey.CreateRequest{Name: how, Tenant: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			if id, err := b.Verify(ctx, raw.Reveal()); err != nil || id.ID != k.ID {
				t.Fatalf("Verify on B of a key A created: %v", err)
			}
			before := len(obs.all())
			want := apikey.ErrRevoked
			switch how {
			case "Revoke":
				err = a.Revoke(ctx, k.ID)
			case "Rotate":
				_, _, err = a.Rotate(ctx, k.ID, 0)
				want = apikey.ErrUnknownKey
			case "Delete":
				err = a.Delete(ctx, k.ID)
				want = apikey.ErrUnknownKey
			}
			if err != nil {
				t.Fatal(err)
			}
			took := refusedOn(t, b, raw.Reveal(), want, 2*time.Second)
			t.Logf("%s on A refused on B after %v", how, took)
			var got []time.Duration
			for len(got) == 0 {
				if got = obs.all()[before:]; len(got) == 0 {
					time.Sleep(time.Millisecond)
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

// TestPropagationLostMessage: B's store drops the message as if lost;
// reconciliation revokes the key within the freshness window.
func TestPropagationLostMessage(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	const freshness = 400 * time.Millisecond
	a, _ := instance(t, addr, prefix, apikey.WithFreshness(freshness))
	b, bs := instance(t, addr, prefix, apikey.WithFreshness(freshness))
	k, raw, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, raw.Reveal()); err != nil {
		t.Fatal(err)
	}
	bs.dropMessages.Store(true)
	if err := a.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	took := refusedOn(t, b, raw.Reveal(), apikey.ErrRevoked, freshness)
	t.Logf("lost message: reconciled on B after %v (freshness %v)", took, freshness)
}

// TestPropagationRedisKilled: Redis dies (SIGKILL) right after a
// revocation B did not hear. Neither Manager accepts the revoked key after
// the freshness window; a valid key gets ErrUnavailable while Redis is
// gone; both recover within 10s of Redis returning.
func TestPropagationRedisKilled(t *testing.T) {
	srv := testredis.Start(t, 0, t.TempDir())
	const freshness = 300 * time.Millisecond
	a, _ := instance(t, srv.Addr(), "", apikey.WithFreshness(freshness))
	b, bs := instance(t, srv.Addr(), "", apikey.WithFreshness(freshness))
	k1, raw1, err := a.Create(ctx, apikey.CreateRequest{Name: "one", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, raw2, err := a.Create(ctx, apikey.CreateRequest{Name: "two", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*apikey.Manager{a, b} {
		for _, raw := range []relayauth.Secret{raw1, raw2} {
			if _, err := m.Verify(ctx, raw.Reveal()); err != nil {
				t.Fatal(err)
			}
		}
	}
	bs.dropMessages.Store(true)
	if err := a.Revoke(ctx, k1.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	srv.Kill()
	managers := map[string]*apikey.Manager{"A": a, "B": b}
	sla := revoked.Add(freshness + freshness/16 + 50*time.Millisecond)
	never := func() {
		for name, m := range managers {
			if _, err := m.Verify(ctx, raw1.Reveal()); err == nil && (name == "A" || time.Now().After(sla)) {
				t.Fatalf("%s accepted the revoked key %v after the revocation", name, time.Since(revoked))
			}
		}
	}
	for name, m := range managers {
		eventually(t, 5*time.Second, name+" fails closed", func() bool {
			never()
			_, err := m.Verify(ctx, raw2.Reveal())
			return errors.Is(err, relayauth.ErrUnavailable)
		})
		eventually(t, 2*freshness, name+"'s StateAge passes the freshness window", func() bool {
			never()
			return m.StateAge() > freshness
		})
	}
	srv.Restart()
	back := time.Now()
	for name, m := range managers {
		eventually(t, 10*time.Second-time.Since(back), name+" recovers", func() bool {
			never()
			_, err := m.Verify(ctx, raw2.Reveal())
			return err == nil
		})
		if _, err := m.Verify(ctx, raw1.Reveal()); !errors.Is(err, apikey.ErrRevoked) {
			t.Errorf("%s after recovery: Verify of the revoked key = %v, want ErrRevoked", name, err)
		}
	}
	t.Logf("both recovered %v after Redis returned", time.Since(back))
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestVerifyAllocatesNothing: the staleness check costs Verify nothing.
func TestVerifyAllocatesNothing(t *testing.T) {
	m, _ := instance(t, testredis.Addr(t), testredis.Prefix(t))
	_, raw, err := m.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	key := raw.Reveal()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := m.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify allocates %v times per run, want 0", n)
	}
}

// loseChanges makes every Manager's next reconciliation find that changes
// it never read were trimmed from the log (as after 15 minutes behind):
// it logs a change and trims the log in one step, so that no Manager can
// read the entry first.
func loseChanges(t *testing.T, c redis.UniversalClient, s *Store) {
	t.Helper()
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.changed(), Values: []any{"id", apikey.NewID(), "at", "0"}})
		p.XTrimMaxLen(ctx, s.keys.changed(), 0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPropagationChangesLostDropsDeletedKey: a key deleted while B was not
// listening (the deletion reached neither B's subscription nor, before it
// was trimmed, B's reading of the change log) stops working on B once B
// finds its changes lost and reloads every key; the keys still stored
// keep working.
func TestPropagationChangesLostDropsDeletedKey(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	const freshness = 400 * time.Millisecond
	a, as := instance(t, addr, prefix, apikey.WithFreshness(freshness))
	b, _ := instance(t, addr, prefix, apikey.WithFreshness(freshness))
	gone, rawGone, err := a.Create(ctx, apikey.CreateRequest{Name: "gone", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, rawKept, err := a.Create(ctx, apikey.CreateRequest{Name: "kept", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []relayauth.Secret{rawGone, rawKept} {
		if _, err := b.Verify(ctx, raw.Reveal()); err != nil {
			t.Fatal(err)
		}
	}
	if err := as.Delete(ctx, gone.ID); err != nil { // the store only: nothing announced
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, rawGone.Reveal()); err != nil {
		t.Fatalf("B, told nothing yet, refuses the key: %v", err)
	}
	loseChanges(t, client(t), as)
	took := refusedOn(t, b, rawGone.Reveal(), apikey.ErrUnknownKey, 2*freshness)
	t.Logf("deleted key refused on B %v after its changes were lost", took)
	if _, err := b.Verify(ctx, rawKept.Reveal()); err != nil {
		t.Errorf("B after the reload: Verify of a stored key = %v", err)
	}
}

// dropProxy relays TCP to target, except that the first times chunks a
// client sends that contain trigger are not relayed: their connection is
// closed instead, as when Redis is unreachable for a moment. It returns
// the proxy's address and the number of chunks dropped so far.
func dropProxy(t *testing.T, target string, trigger []byte, times int32) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var left, dropped atomic.Int32
	left.Store(times)
	relay := func(dst, src net.Conn, drop bool) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if drop && bytes.Contains(buf[:n], trigger) && left.Add(-1) >= 0 {
					dropped.Add(1)
					return
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go relay(c, s, false)
			go relay(s, c, true)
		}
	}()
	return l.Addr().String(), &dropped
}

// notifyFailing is A: a Manager whose client reaches Redis through a proxy
// that drops its first times change notifications (the notify script's
// command: the write before it goes through). No retries by the client:
// each Notify is one attempt.
func notifyFailing(t *testing.T, addr, prefix string, times int32, opts ...apikey.Option) (*apikey.Manager, *atomic.Int32) {
	t.Helper()
	paddr, dropped := dropProxy(t, addr, []byte(notifyScript.Hash()), times)
	m, _ := instance(t, paddr, prefix, opts...)
	return m, dropped
}

// TestPropagationNotifyFailure: A rotates (grace 0), revokes or deletes a
// key; the store records it, then the change notification fails more
// times than A's immediate retries. The operation succeeds (Rotate hands
// out the new secret), B, which had the key, refuses it within the
// freshness window (it learned of the intent, recorded before the write),
// and A retries the announcement on its propagation ticks until it goes
// through.
func TestPropagationNotifyFailure(t *testing.T) {
	addr := testredis.Addr(t)
	const freshness = time.Second // A retries every 250ms
	for _, how := range []string{"Rotate", "Revoke", "Delete"} {
		t.Run(how, func(t *testing.T) {
			prefix := testredis.Prefix(t)
			const drops = 5 // the first attempt, 2 immediate retries, 2 ticks
			a, dropped := notifyFailing(t, addr, prefix, drops, apikey.WithFreshness(freshness))
			b, _ := instance(t, addr, prefix, apikey.WithFreshness(freshness))
			k, old, err := a.Create(ctx, apikey.CreateRequest{Name: how, Tenant: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Verify(ctx, old.Reveal()); err != nil {
				t.Fatal(err)
			}
			want := apikey.ErrUnknownKey
			start := time.Now()
			switch how {
			case "Rotate":
				var fresh relayauth.Secret
				_, fresh, err = a.Rotate(ctx, k.ID, 0)
				if err == nil {
					if _, err := a.Verify(ctx, fresh.Reveal()); err != nil {
						t.Errorf("A: Verify of the new secret: %v", err)
					}
				}
			case "Revoke":
				err = a.Revoke(ctx, k.ID)
				want = apikey.ErrRevoked
			case "Delete":
				err = a.Delete(ctx, k.ID)
			}
			if err != nil {
				t.Fatalf("%s, recorded but not announced: %v", how, err)
			}
			returned := dropped.Load()
			if _, err := a.Verify(ctx, old.Reveal()); !errors.Is(err, want) {
				t.Errorf("A: Verify of the old secret = %v, want %v", err, want)
			}
			// B learned of the intent before the write, and re-reads the
			// key on its reconciliations: it needs no announcement.
			took := refusedOn(t, b, old.Reveal(), want, freshness)
			if returned != 3 {
				t.Errorf("%d notifications dropped when %s returned, want 3 (the first and 2 immediate retries)", returned, how)
			}
			t.Logf("%s on A refused on B %v after %s returned (%v after it began; %d notifications dropped)",
				how, took, how, time.Since(start), dropped.Load())
			// A keeps announcing until it goes through.
			eventually(t, 3*time.Second, "A retries the announcement on its ticks", func() bool { return dropped.Load() == drops })
		})
	}
}

// TestPropagationNotifyPendingAtClose: a notification still pending when A
// closes (A's propagation loop never retried it) is sent by Close, and B
// refuses the revoked key.
func TestPropagationNotifyPendingAtClose(t *testing.T) {
	addr := testredis.Addr(t)
	prefix := testredis.Prefix(t)
	a, dropped := notifyFailing(t, addr, prefix, 3, apikey.WithFreshness(time.Minute)) // ticks every 15s
	b, _ := instance(t, addr, prefix, apikey.WithFreshness(20*time.Second))
	k, raw, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, raw.Reveal()); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if n := dropped.Load(); n != 3 {
		t.Fatalf("%d notifications dropped, want 3", n)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := dropped.Load(); n != 3 {
		t.Fatalf("%d notifications dropped after Close, want 3 (Close's went through)", n)
	}
	took := refusedOn(t, b, raw.Reveal(), apikey.ErrRevoked, time.Second)
	t.Logf("revocation announced by Close, refused on B %v after", took)
}

// TestChangesLost: Changes reports ErrChangesLost exactly when entries
// after the cursor are gone: trimmed (which does not move Redis's
// max-deleted-entry-id), deleted, or gone with the whole log; trimming
// entries the reader already read loses nothing.
func TestChangesLost(t *testing.T) { testChangesLost(t, client(t)) }

func testChangesLost(t *testing.T, c redis.UniversalClient) {
	s := newStore(t, c, testredis.Prefix(t))
	log := s.keys.changed()
	notify := func() string {
		t.Helper()
		id := apikey.NewID()
		if err := s.Notify(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
		return id
	}
	changes := func(cursor string, wantLost bool, want ...string) string {
		t.Helper()
		ids, next, err := s.Changes(ctx, cursor)
		if lost := errors.Is(err, apikey.ErrChangesLost); lost != wantLost || (err != nil && !lost) {
			t.Fatalf("Changes(%q): %v, want lost %v", cursor, err, wantLost)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("Changes(%q) = %v, want %v", cursor, ids, want)
		}
		return next
	}
	redisDo := func(args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}

	cur := changes("", false) // nothing logged yet
	cur = changes(cur, false)
	id := notify()
	cur = changes(cur, false, id)

	notify()
	notify()
	redisDo("XTRIM", log, "MAXLEN", 1) // one of the two unread entries
	cur = changes(changes(cur, true), false)

	notify()
	redisDo("XTRIM", log, "MAXLEN", 0) // the one unread entry
	cur = changes(changes(cur, true), false)

	id = notify()
	cur = changes(cur, false, id)
	redisDo("XTRIM", log, "MAXLEN", 0) // only entries already read
	cur = changes(cur, false)
	id = notify()
	cur = changes(cur, false, id) // still counting right

	notify()
	notify()
	last2, err := c.XRevRangeN(ctx, log, "+", "-", 2).Result()
	if err != nil {
		t.Fatal(err)
	}
	redisDo("XDEL", log, last2[1].ID) // the first unread entry
	cur = changes(changes(cur, true), false)

	id = notify()
	cur = changes(cur, false, id)
	redisDo("DEL", log) // the whole log, as when Redis loses its data
	changes(cur, true)

	if _, _, err := s.Changes(ctx, "1-0"); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Changes of a malformed cursor: %v, want ErrInvalid", err)
	}
}
