package apikey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
)

var ctx = context.Background()

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)} }

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// counting wraps a Store and counts the calls of each method; failing
// makes every call fail with ErrUnavailable.
type counting struct {
	apikey.Store
	creates, gets, byHash, lists, updates, touches, deletes atomic.Int64
	touched                                                 atomic.Int64 // ids across TouchLastUsed calls
	failing                                                 atomic.Bool
}

var errDown = fmt.Errorf("%w: test outage", apikey.ErrUnavailable)

func (c *counting) down() error {
	if c.failing.Load() {
		return errDown
	}
	return nil
}

func (c *counting) Create(ctx context.Context, k apikey.Key) error {
	c.creates.Add(1)
	if err := c.down(); err != nil {
		return err
	}
	return c.Store.Create(ctx, k)
}

func (c *counting) Get(ctx context.Context, id string) (apikey.Key, error) {
	c.gets.Add(1)
	if err := c.down(); err != nil {
		return apikey.Key{}, err
	}
	return c.Store.Get(ctx, id)
}

func (c *counting) GetByHash(ctx context.Context, h apikey.Hash) (apikey.Key, error) {
	c.byHash.Add(1)
	if err := c.down(); err != nil {
		return apikey.Key{}, err
	}
	return c.Store.GetByHash(ctx, h)
}

func (c *counting) List(ctx context.Context, tenant string) ([]apikey.Key, error) {
	c.lists.Add(1)
	if err := c.down(); err != nil {
		return nil, err
	}
	return c.Store.List(ctx, tenant)
}

func (c *counting) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	c.updates.Add(1)
	if err := c.down(); err != nil {
		return apikey.Key{}, err
	}
	return c.Store.Update(ctx, id, fn)
}

func (c *counting) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	c.touches.Add(1)
	c.touched.Add(int64(len(used)))
	if err := c.down(); err != nil {
		return err
	}
	return c.Store.TouchLastUsed(ctx, used)
}

func (c *counting) Delete(ctx context.Context, id string) error {
	c.deletes.Add(1)
	if err := c.down(); err != nil {
		return err
	}
	return c.Store.Delete(ctx, id)
}

// fixture is a Manager on a counting memory store, with a settable clock
// and its log captured.
type fixture struct {
	m     *apikey.Manager
	store *counting
	mem   *apikey.MemoryStore
	clock *clock
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newFixture(t testing.TB, env apikey.Env, opts ...apikey.Option) *fixture {
	t.Helper()
	mem := apikey.NewMemoryStore()
	f := &fixture{store: &counting{Store: mem}, mem: mem, clock: newClock(), logs: &syncBuffer{}}
	f.m = f.manager(t, env, opts...)
	return f
}

// manager returns another Manager on the fixture's store.
func (f *fixture) manager(t testing.TB, env apikey.Env, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]apikey.Option{apikey.WithClock(f.clock.Now), apikey.WithLogger(log), apikey.WithFlushInterval(time.Hour)}, opts...)
	m, err := apikey.NewManager(f.store, env, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (f *fixture) create(t testing.TB, name string, mutate ...func(*apikey.CreateRequest)) (apikey.Key, string) {
	t.Helper()
	req := apikey.CreateRequest{Name: name, Tenant: "acme", Scopes: []string{"api_keys:read"}, Roles: []string{"tenant_admin"}, CreatedBy: "alice"}
	for _, m := range mutate {
		m(&req)
	}
	k, secret, err := f.m.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return k, secret.Reveal()
}

func TestCreateVerify(t *testing.T) {
	f := newFixture(t, apikey.EnvLive)
	k, raw := f.create(t, "deploy", func(r *apikey.CreateRequest) { r.ExpiresIn = time.Hour })
	if _, err := apikey.Parse(raw); err != nil || !strings.HasPrefix(raw, "rk_live_") {
		t.Fatalf("Create returned a key that does not parse: %v", err)
	}
	if k.MaskedKey != apikey.Mask(raw) || !k.Hash.IsZero() || !k.PrevHash.IsZero() {
		t.Errorf("Create's record: masked %q, hash zero %v; want the mask and no hash", k.MaskedKey, k.Hash.IsZero())
	}
	if !k.CreatedAt.Equal(f.clock.Now()) || !k.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) || k.CreatedBy != "alice" || k.Env != apikey.EnvLive {
		t.Errorf("Create's record: %+v", k)
	}
	stored, _ := f.mem.Get(ctx, k.ID)
	if stored.Hash != apikey.HashOf(raw) {
		t.Error("the store does not hold the key's hash")
	}
	id, err := f.m.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !id.ExpiresAt.Equal(k.ExpiresAt) {
		t.Errorf("Verify's ExpiresAt = %v, want the key's %v", id.ExpiresAt, k.ExpiresAt)
	}
	want := apikey.Identity{ID: k.ID, Tenant: "acme", Name: "deploy", Scopes: []string{"api_keys:read"}, Roles: []string{"tenant_admin"}, ExpiresAt: id.ExpiresAt}
	if fmt.Sprint(id) != fmt.Sprint(want) {
		t.Errorf("Verify = %+v, want %+v", id, want)
	}
	p := id.Principal()
	if p.Subject != k.ID || p.Tenant != "acme" || p.Method != relayauth.MethodAPIKey || !p.HasScope("api_keys:read") {
		t.Errorf("Principal() = %+v", p)
	}
	// The identity's slices cannot be grown into the index's memory.
	_ = append(id.Scopes, "extra")
	if again, _ := f.m.Verify(ctx, raw); len(again.Scopes) != 1 {
		t.Error("appending to a returned identity changed the index")
	}
	if f.store.byHash.Load() != 0 {
		t.Errorf("Verify of a key this Manager created asked the store %d times", f.store.byHash.Load())
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprintf("s%d", i)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*apikey.CreateRequest)
	}{
		{"huge name", func(r *apikey.CreateRequest) { r.Name = strings.Repeat("n", 1<<20) }},
		{"65-character name", func(r *apikey.CreateRequest) { r.Name = strings.Repeat("n", 65) }},
		{"empty name", func(r *apikey.CreateRequest) { r.Name = "" }},
		{"name with control characters", func(r *apikey.CreateRequest) { r.Name = "x\u0000y" }},
		{"bad tenant", func(r *apikey.CreateRequest) { r.Tenant = "acme corp" }},
		{"empty tenant", func(r *apikey.CreateRequest) { r.Tenant = "" }},
		{"huge tenant", func(r *apikey.CreateRequest) { r.Tenant = strings.Repeat("t", 129) }},
		{"scope with a space", func(r *apikey.CreateRequest) { r.Scopes = []string{"tokens issue"} }},
		{"scope with unicode", func(r *apikey.CreateRequest) { r.Scopes = []string{"tökens"} }},
		{"33 scopes", func(r *apikey.CreateRequest) { r.Scopes = many }},
		{"33 roles", func(r *apikey.CreateRequest) { r.Roles = many }},
		{"negative expiry", func(r *apikey.CreateRequest) { r.ExpiresIn = -time.Second }},
		{"absurd expiry", func(r *apikey.CreateRequest) { r.ExpiresIn = 11 * 365 * 24 * time.Hour }},
		{"largest duration", func(r *apikey.CreateRequest) { r.ExpiresIn = 1<<63 - 1 }},
		{"huge created_by", func(r *apikey.CreateRequest) { r.CreatedBy = strings.Repeat("c", 300) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, apikey.EnvTest)
			req := apikey.CreateRequest{Name: "deploy", Tenant: "acme"}
			tc.mutate(&req)
			k, secret, err := f.m.Create(ctx, req)
			if !errors.Is(err, apikey.ErrInvalid) || !errors.Is(err, relayauth.ErrInvalid) {
				t.Fatalf("Create: %v, want ErrInvalid", err)
			}
			if k.ID != "" || secret != "" {
				t.Error("a refused Create returned a key")
			}
			if n := f.store.creates.Load(); n != 0 || f.mem.Len() != 0 {
				t.Errorf("a refused Create reached the store (%d calls, %d keys)", n, f.mem.Len())
			}
			if len(err.Error()) > 1000 {
				t.Errorf("the error echoes the input: %d bytes", len(err.Error()))
			}
		})
	}
	// The limits themselves are accepted.
	f := newFixture(t, apikey.EnvTest)
	f.create(t, strings.Repeat("n", 64), func(r *apikey.CreateRequest) {
		r.ExpiresIn, r.Scopes, r.Roles = apikey.MaxExpiresIn, many[:32], many[:32]
	})
}

func TestCreateNameTaken(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	f.create(t, "deploy")
	if _, _, err := f.m.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"}); !errors.Is(err, apikey.ErrNameTaken) {
		t.Errorf("a second key named deploy: %v, want ErrNameTaken", err)
	}
	if f.mem.Len() != 1 {
		t.Errorf("the store holds %d keys, want 1", f.mem.Len())
	}
	f.create(t, "deploy", func(r *apikey.CreateRequest) { r.Tenant = "globex" })
}

func TestRotation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		// after is how long after the rotation the old key is tried.
		after  time.Duration
		oldErr error
	}{
		{"within grace", time.Hour, 59 * time.Minute, nil},
		{"at the deadline", time.Hour, time.Hour, apikey.ErrExpired},
		{"after grace", time.Hour, 2 * time.Hour, apikey.ErrExpired},
		{"grace 0, at once", 0, 0, apikey.ErrUnknownKey},
		{"longest grace", apikey.MaxRotationGrace, apikey.MaxRotationGrace - time.Nanosecond, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, apikey.EnvTest)
			k, old := f.create(t, "deploy")
			f.clock.Advance(time.Minute)
			rk, fresh, err := f.m.Rotate(ctx, k.ID, tc.grace)
			if err != nil {
				t.Fatal(err)
			}
			if rk.ID != k.ID || fresh.Reveal() == old || rk.MaskedKey != apikey.Mask(fresh.Reveal()) || !rk.RotatedAt.Equal(f.clock.Now()) {
				t.Errorf("Rotate's record: %+v", rk)
			}
			if wantUntil := f.clock.Now().Add(tc.grace); tc.grace > 0 && !rk.PrevValidUntil.Equal(wantUntil) {
				t.Errorf("PrevValidUntil = %v, want %v", rk.PrevValidUntil, wantUntil)
			}
			if tc.grace > 0 {
				// The old secret stops at the grace deadline, before the
				// key's own expiry: that is the identity's ExpiresAt.
				if id, err := f.m.Verify(ctx, old); err != nil || !id.ExpiresAt.Equal(rk.PrevValidUntil) {
					t.Errorf("old secret's ExpiresAt = %v (%v), want the grace deadline %v", id.ExpiresAt, err, rk.PrevValidUntil)
				}
				if id, err := f.m.Verify(ctx, fresh.Reveal()); err != nil || !id.ExpiresAt.Equal(rk.ExpiresAt) {
					t.Errorf("new secret's ExpiresAt = %v (%v), want the key's %v", id.ExpiresAt, err, rk.ExpiresAt)
				}
			}
			f.clock.Advance(tc.after)
			if _, err := f.m.Verify(ctx, old); !errors.Is(err, tc.oldErr) || (tc.oldErr == nil) != (err == nil) {
				t.Errorf("old key %v after rotation with grace %v: %v, want %v", tc.after, tc.grace, err, tc.oldErr)
			}
			if id, err := f.m.Verify(ctx, fresh.Reveal()); err != nil || id.ID != k.ID {
				t.Errorf("new key: %v", err)
			}
		})
	}
}

func TestRotateTwiceEndsTheOldestSecret(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, first := f.create(t, "deploy")
	_, second, _ := f.m.Rotate(ctx, k.ID, time.Hour)
	_, third, err := f.m.Rotate(ctx, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(ctx, first); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("first secret after two rotations: %v, want ErrUnknownKey", err)
	}
	for _, s := range []string{second.Reveal(), third.Reveal()} {
		if _, err := f.m.Verify(ctx, s); err != nil {
			t.Errorf("a current or previous secret: %v", err)
		}
	}
}

func TestRotateRefused(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, _ := f.create(t, "deploy")
	for _, tc := range []struct {
		name  string
		id    string
		grace time.Duration
		want  error
	}{
		{"negative grace", k.ID, -time.Second, apikey.ErrInvalid},
		{"grace over 30 days", k.ID, apikey.MaxRotationGrace + time.Second, apikey.ErrInvalid},
		{"unknown id", apikey.NewID(), 0, apikey.ErrNotFound},
		{"malformed id", "../../x", 0, apikey.ErrNotFound},
	} {
		if _, s, err := f.m.Rotate(ctx, tc.id, tc.grace); !errors.Is(err, tc.want) || s != "" {
			t.Errorf("Rotate with %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	exp, _ := f.create(t, "expiring", func(r *apikey.CreateRequest) { r.ExpiresIn = time.Minute })
	if err := f.m.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	for _, id := range []string{k.ID, exp.ID} {
		if _, _, err := f.m.Rotate(ctx, id, time.Hour); !errors.Is(err, apikey.ErrInactive) || !errors.Is(err, relayauth.ErrConflict) {
			t.Errorf("Rotate of a revoked or expired key: %v, want ErrInactive", err)
		}
	}
}

func TestRevoke(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, old := f.create(t, "deploy")
	_, fresh, _ := f.m.Rotate(ctx, k.ID, time.Hour)
	other, otherRaw := f.create(t, "other")
	f.clock.Advance(time.Second)
	if err := f.m.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{old, fresh.Reveal()} {
		if _, err := f.m.Verify(ctx, s); !errors.Is(err, apikey.ErrRevoked) || !errors.Is(err, relayauth.ErrUnauthenticated) {
			t.Errorf("Verify after Revoke: %v, want ErrRevoked", err)
		}
	}
	if _, err := f.m.Verify(ctx, otherRaw); err != nil {
		t.Errorf("another key after Revoke: %v", err)
	}
	got, _ := f.m.Get(ctx, k.ID)
	revokedAt := f.clock.Now()
	if !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, revokedAt)
	}
	f.clock.Advance(time.Hour)
	if err := f.m.Revoke(ctx, k.ID); err != nil {
		t.Errorf("second Revoke: %v", err)
	}
	if got, _ := f.m.Get(ctx, k.ID); !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("a second Revoke moved RevokedAt to %v", got.RevokedAt)
	}
	if err := f.m.Revoke(ctx, apikey.NewID()); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Revoke of an unknown id: %v", err)
	}
	// A new Manager on the same store learns the revocation from it.
	m2 := f.manager(t, apikey.EnvTest)
	if _, err := m2.Verify(ctx, old); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("a new Manager: %v, want ErrRevoked", err)
	}
	if id, err := m2.Verify(ctx, otherRaw); err != nil || id.ID != other.ID {
		t.Errorf("a new Manager, live key: %v", err)
	}
}

// TestRevokeWhileStoreDown: the store cannot record the revocation; this
// Manager refuses the key anyway and says the store failed.
func TestRevokeWhileStoreDown(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, raw := f.create(t, "deploy")
	f.store.failing.Store(true)
	if err := f.m.Revoke(ctx, k.ID); !errors.Is(err, relayauth.ErrUnavailable) {
		t.Fatalf("Revoke with the store down: %v, want ErrUnavailable", err)
	}
	if _, err := f.m.Verify(ctx, raw); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("Verify after a Revoke the store missed: %v, want ErrRevoked", err)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, raw := f.create(t, "deploy")
	if err := f.m.Delete(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(ctx, raw); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("Verify after Delete: %v", err)
	}
	if _, err := f.m.Get(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	_, raw := f.create(t, "deploy", func(r *apikey.CreateRequest) { r.ExpiresIn = time.Hour })
	_, forever := f.create(t, "forever")
	start := f.clock.Now()
	for _, tc := range []struct {
		at   time.Duration
		want error
	}{
		{0, nil},
		{time.Hour - time.Nanosecond, nil},
		{time.Hour, apikey.ErrExpired},
		{1000 * time.Hour, apikey.ErrExpired},
	} {
		f.clock.Set(start.Add(tc.at))
		if _, err := f.m.Verify(ctx, raw); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("at +%v: %v, want %v", tc.at, err, tc.want)
		}
		if _, err := f.m.Verify(ctx, forever); err != nil {
			t.Errorf("a key without expiry at +%v: %v", tc.at, err)
		}
	}
}

func TestWrongEnvironment(t *testing.T) {
	live := newFixture(t, apikey.EnvLive)
	test := newFixture(t, apikey.EnvTest)
	_, testKey := test.create(t, "deploy")
	_, liveKey := live.create(t, "deploy")
	for _, tc := range []struct {
		m   *apikey.Manager
		c   *counting
		raw string
	}{{live.m, live.store, testKey}, {test.m, test.store, liveKey}} {
		if _, err := tc.m.Verify(ctx, tc.raw); !errors.Is(err, apikey.ErrWrongEnvironment) || !errors.Is(err, relayauth.ErrUnauthenticated) {
			t.Errorf("a key of the other environment: %v, want ErrWrongEnvironment", err)
		}
		if n := tc.c.byHash.Load(); n != 0 {
			t.Errorf("a key of the other environment reached the store (%d lookups)", n)
		}
	}
}

// TestBadInputNeverReachesTheStore: malformed keys and checksum failures
// are refused before any lookup.
func TestBadInputNeverReachesTheStore(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	_, raw := f.create(t, "deploy")
	before := f.store.byHash.Load()
	for i := 8; i < apikey.Length; i++ {
		b := []byte(raw)
		b[i] ^= 1 // another ASCII letter or digit
		if _, err := f.m.Verify(ctx, string(b)); !errors.Is(err, apikey.ErrChecksum) && !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("a flipped character at %d: %v", i, err)
		}
	}
	for _, s := range []string{"", "Bearer x", strings.Repeat("A", 1<<16), raw + raw} {
		if _, err := f.m.Verify(ctx, s); !errors.Is(err, apikey.ErrMalformed) {
			t.Errorf("malformed input: %v", err)
		}
	}
	if n := f.store.byHash.Load() - before; n != 0 {
		t.Errorf("bad keys caused %d store lookups", n)
	}
}

// wellFormed returns a key that parses but that nobody issued.
func wellFormed(t testing.TB) string { return newRaw(t, apikey.EnvTest) }

func TestUnknownKeysAreCheap(t *testing.T) {
	f := newFixture(t, apikey.EnvTest, apikey.WithStoreLookupLimit(10), apikey.WithNegativeCache(100, time.Minute))
	ghost := wellFormed(t)
	for range 100 {
		if _, err := f.m.Verify(ctx, ghost); !errors.Is(err, apikey.ErrUnknownKey) {
			t.Fatalf("an unknown key: %v", err)
		}
	}
	if n := f.store.byHash.Load(); n != 1 {
		t.Errorf("100 Verifies of one unknown key made %d store lookups, want 1", n)
	}
	// A flood of distinct made-up keys: the lookup budget (10, of which
	// one is spent) bounds the store reads.
	for range 1000 {
		if _, err := f.m.Verify(ctx, wellFormed(t)); !errors.Is(err, apikey.ErrUnknownKey) {
			t.Fatalf("an unknown key: %v", err)
		}
	}
	if n := f.store.byHash.Load(); n != 10 {
		t.Errorf("a flood of 1000 unknown keys made %d store lookups, want 10", n)
	}
	if n := f.m.NegativeLen(); n > 100 {
		t.Errorf("the negative cache holds %d hashes, bound is 100", n)
	}
	// The budget refills with time; the cached miss expires.
	f.clock.Advance(time.Second)
	f.m.Verify(ctx, wellFormed(t))
	if n := f.store.byHash.Load(); n != 11 {
		t.Errorf("after a second, lookups = %d, want 11", n)
	}
	f.clock.Advance(time.Minute)
	f.m.Verify(ctx, ghost)
	if n := f.store.byHash.Load(); n != 12 {
		t.Errorf("after the cached miss expired, lookups = %d, want 12", n)
	}
}

// TestKeyFromAnotherManager: a key created by another Manager on the same
// store (another instance, the command line) works after one lookup.
func TestKeyFromAnotherManager(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	other := f.manager(t, apikey.EnvTest)
	k, _, err := other.Create(ctx, apikey.CreateRequest{Name: "cli", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, raw, _ := other.Rotate(ctx, k.ID, 0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if id, err := f.m.Verify(ctx, raw.Reveal()); err != nil || id.ID != k.ID {
				t.Errorf("Verify of another Manager's key: %v", err)
			}
		})
	}
	wg.Wait()
	if n := f.store.byHash.Load(); n < 1 || n > 3 {
		t.Errorf("20 concurrent Verifies of a new key made %d store lookups", n)
	}
	before := f.store.byHash.Load()
	for range 10 {
		f.m.Verify(ctx, raw.Reveal())
	}
	if n := f.store.byHash.Load() - before; n != 0 {
		t.Errorf("a cached key still costs store lookups: %d", n)
	}
}

func TestLookupFailureFailsClosed(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	_, known := f.create(t, "deploy")
	f.store.failing.Store(true)
	if _, err := f.m.Verify(ctx, wellFormed(t)); !errors.Is(err, relayauth.ErrUnavailable) {
		t.Errorf("an unknown key with the store down: %v, want ErrUnavailable", err)
	}
	if _, err := f.m.Verify(ctx, known); err != nil {
		t.Errorf("a known key with the store down: %v", err)
	}
}

// blocking lets a test hold a GetByHash between its read and its answer.
type blocking struct {
	apikey.Store
	read, release chan struct{}
}

func (b *blocking) GetByHash(ctx context.Context, h apikey.Hash) (apikey.Key, error) {
	k, err := b.Store.GetByHash(ctx, h)
	b.read <- struct{}{}
	<-b.release
	return k, err
}

// TestStaleLookupCannotUndoRevoke: a lookup that read a key before a
// revocation through this Manager must not put the live record back.
func TestStaleLookupCannotUndoRevoke(t *testing.T) {
	mem := apikey.NewMemoryStore()
	writer, err := apikey.NewManager(mem, apikey.EnvTest)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	k, _, err := writer.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	b := &blocking{Store: mem, read: make(chan struct{}), release: make(chan struct{})}
	m, err := apikey.NewManager(b, apikey.EnvTest)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Give the key a secret m has not seen, so m must look it up.
	_, fresh, err := writer.Rotate(ctx, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := m.Verify(ctx, fresh.Reveal())
		done <- err
	}()
	<-b.read // the lookup holds the live record
	if err := m.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	close(b.release)
	<-done // this Verify overlapped the Revoke: either answer is fine
	if _, err := m.Verify(ctx, fresh.Reveal()); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("Verify after Revoke returned, with a stale lookup in flight: %v, want ErrRevoked", err)
	}
}

// TestNoKeyInLogs: security.md 20. Nothing the Manager logs, and no error
// it returns, holds a key.
func TestNoKeyInLogs(t *testing.T) {
	f := newFixture(t, apikey.EnvLive)
	var secrets []string
	var errs []string
	k, raw := f.create(t, "deploy", func(r *apikey.CreateRequest) { r.ExpiresIn = time.Hour })
	secrets = append(secrets, raw)
	for range 3 {
		f.m.Verify(ctx, raw)
	}
	_, rotated, err := f.m.Rotate(ctx, k.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated.Reveal())
	f.m.Verify(ctx, raw)
	f.m.Verify(ctx, rotated.Reveal())
	f.m.Revoke(ctx, k.ID)
	for _, s := range []string{raw, rotated.Reveal()} {
		_, err := f.m.Verify(ctx, s)
		errs = append(errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	bad := raw[:20] + "0" + raw[21:]
	if bad == raw {
		bad = raw[:20] + "1" + raw[21:]
	}
	_, err = f.m.Verify(ctx, bad)
	errs = append(errs, err.Error())
	ghost := wellFormed(t)
	_, err = f.m.Verify(ctx, ghost)
	errs = append(errs, err.Error())
	secrets = append(secrets, bad, ghost)
	f.store.failing.Store(true)
	_, err = f.m.Verify(ctx, newRaw(t, apikey.EnvLive))
	errs = append(errs, err.Error())
	f.store.failing.Store(false)
	_, s2, _ := f.m.Create(ctx, apikey.CreateRequest{Name: "second", Tenant: "acme"})
	secrets = append(secrets, s2.Reveal())
	f.m.Close()

	out := f.logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(out, "api key created") || !strings.Contains(out, "api key revoked") {
		t.Fatalf("the log does not show the writes:\n%s", out)
	}
	for _, s := range secrets {
		// Any stretch of the body is a leak, not just the whole key.
		for _, part := range []string{s, s[8:41], s[10:22], s[25:37]} {
			if strings.Contains(out, part) {
				t.Fatalf("the log or an error holds (part of) a key:\n%s", out)
			}
		}
	}
	// The Secret type redacts itself wherever it goes.
	if fmt.Sprint(rotated) != "[REDACTED]" {
		t.Error("Secret does not redact")
	}
}

// TestRecordsAreMasked: security.md 15: every read is masked.
func TestRecordsAreMasked(t *testing.T) {
	f := newFixture(t, apikey.EnvLive)
	k, raw := f.create(t, "deploy")
	_, _, err := f.m.Rotate(ctx, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.m.Get(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.m.List(ctx, "acme")
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	for _, r := range []apikey.Key{got, list[0]} {
		if !r.Hash.IsZero() || !r.PrevHash.IsZero() || r.PrevValidUntil.IsZero() || !strings.HasPrefix(r.MaskedKey, "rk_live_…") {
			t.Errorf("a record read through the Manager: hash zero %v, prev zero %v, masked %q", r.Hash.IsZero(), r.PrevHash.IsZero(), r.MaskedKey)
		}
		j, _ := json.Marshal(r)
		if strings.Contains(string(j), "hash") || strings.Contains(string(j), raw[8:30]) {
			t.Errorf("a record's JSON holds key material: %s", j)
		}
	}
	if _, err := f.m.Get(ctx, "key_../../etc"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Get of a malformed id: %v", err)
	}
}

// TestLastUsedFlushedInBatches: many Verifies of several keys cost one
// store write per flush, and nothing when nothing was used.
func TestLastUsedFlushedInBatches(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	var raws []string
	var keys []apikey.Key
	for i := range 5 {
		k, raw := f.create(t, fmt.Sprintf("k%d", i))
		raws, keys = append(raws, raw), append(keys, k)
	}
	for i := range 1000 {
		if _, err := f.m.Verify(ctx, raws[i%4]); err != nil { // k4 is never used
			t.Fatal(err)
		}
	}
	if n := f.store.touches.Load(); n != 0 {
		t.Fatalf("Verify wrote to the store %d times", n)
	}
	used := f.clock.Now()
	if err := f.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, ids := f.store.touches.Load(), f.store.touched.Load(); n != 1 || ids != 4 {
		t.Errorf("one flush after 1000 Verifies of 4 keys: %d writes of %d ids, want 1 of 4", n, ids)
	}
	for i, k := range keys {
		got, _ := f.mem.Get(ctx, k.ID)
		if want := i < 4; got.LastUsedAt.Equal(used) != want {
			t.Errorf("key %d: LastUsedAt = %v (used: %v)", i, got.LastUsedAt, want)
		}
	}
	if err := f.m.Flush(ctx); err != nil || f.store.touches.Load() != 1 {
		t.Errorf("a flush with nothing new wrote (%d writes, %v)", f.store.touches.Load(), err)
	}
	// A use within a second of the last is not worth recording; a later
	// one is, and Close writes it.
	f.clock.Advance(time.Minute)
	f.m.Verify(ctx, raws[0])
	if got, _ := f.m.Get(ctx, keys[0].ID); !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("Get shows LastUsedAt %v before the flush, want %v", got.LastUsedAt, f.clock.Now())
	}
	// A failed flush keeps the times for the next one.
	f.store.failing.Store(true)
	if err := f.m.Flush(ctx); err == nil {
		t.Error("a flush to a failing store succeeded")
	}
	f.store.failing.Store(false)
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.mem.Get(ctx, keys[0].ID); !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("after Close, LastUsedAt = %v, want %v", got.LastUsedAt, f.clock.Now())
	}
	if n := f.store.touches.Load(); n != 3 {
		t.Errorf("TouchLastUsed calls = %d, want 3 (flush, failed flush, Close)", n)
	}
}

func TestFlushInterval(t *testing.T) {
	f := newFixture(t, apikey.EnvTest, apikey.WithFlushInterval(10*time.Millisecond))
	k, raw := f.create(t, "deploy")
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.clock.Advance(2 * time.Second)
		if _, err := f.m.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.mem.Get(ctx, k.ID); !got.LastUsedAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher never wrote LastUsedAt")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerifyAllocatesNothing(t *testing.T) {
	f := newFixture(t, apikey.EnvLive)
	_, raw := f.create(t, "deploy", func(r *apikey.CreateRequest) { r.ExpiresIn = time.Hour })
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := f.m.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify allocates %v times per call, want 0", n)
	}
}

// TestConcurrentUse runs creates, verifies, rotations and revocations at
// once; -race checks the index.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	shared, sharedRaw := f.create(t, "shared")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				k, s, err := f.m.Create(ctx, apikey.CreateRequest{Name: fmt.Sprintf("w%d-%d", w, i), Tenant: fmt.Sprintf("t%d", w%3)})
				if err != nil {
					t.Error(err)
					return
				}
				if id, err := f.m.Verify(ctx, s.Reveal()); err != nil || id.ID != k.ID {
					t.Errorf("Verify of a fresh key: %v", err)
				}
				if _, err := f.m.Verify(ctx, sharedRaw); err != nil {
					t.Errorf("Verify of the shared key: %v", err)
				}
				switch i % 3 {
				case 0:
					if err := f.m.Revoke(ctx, k.ID); err != nil {
						t.Error(err)
					}
					if _, err := f.m.Verify(ctx, s.Reveal()); !errors.Is(err, apikey.ErrRevoked) {
						t.Errorf("Verify after Revoke: %v", err)
					}
				case 1:
					_, s2, err := f.m.Rotate(ctx, k.ID, time.Minute)
					if err != nil {
						t.Error(err)
					}
					for _, x := range []string{s.Reveal(), s2.Reveal()} {
						if _, err := f.m.Verify(ctx, x); err != nil {
							t.Errorf("Verify after Rotate: %v", err)
						}
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			f.m.Flush(ctx)
			f.m.List(ctx, "")
		}
	})
	wg.Wait()
	if f.mem.Len() != 161 {
		t.Errorf("store holds %d keys, want 161", f.mem.Len())
	}
	_ = shared
}

func TestNewManagerRefuses(t *testing.T) {
	mem := apikey.NewMemoryStore()
	down := &counting{Store: mem}
	down.failing.Store(true)
	for name, tc := range map[string]struct {
		s    apikey.Store
		env  apikey.Env
		opts []apikey.Option
	}{
		"nil store":      {nil, apikey.EnvTest, nil},
		"unknown env":    {mem, "prod", nil},
		"zero flush":     {mem, apikey.EnvTest, []apikey.Option{apikey.WithFlushInterval(0)}},
		"nil clock":      {mem, apikey.EnvTest, []apikey.Option{apikey.WithClock(nil)}},
		"nil logger":     {mem, apikey.EnvTest, []apikey.Option{apikey.WithLogger(nil)}},
		"negative limit": {mem, apikey.EnvTest, []apikey.Option{apikey.WithStoreLookupLimit(-1)}},
		"store down":     {down, apikey.EnvTest, nil},
	} {
		if m, err := apikey.NewManager(tc.s, tc.env, tc.opts...); err == nil {
			m.Close()
			t.Errorf("NewManager with %s succeeded", name)
		}
	}
}

// TestDefaultClock: with the real clock, Verify judges expiry on its
// coarse copy of the clock, at most a few ticks late; after Close it reads
// the clock itself, so time does not stop.
func TestDefaultClock(t *testing.T) {
	m, err := apikey.NewManager(apikey.NewMemoryStore(), apikey.EnvTest, apikey.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	const life = 50 * time.Millisecond
	expires := func(name string) {
		t.Helper()
		// Before Create, which stamps the key: the lifetime runs from there.
		start := time.Now()
		_, s, err := m.Create(ctx, apikey.CreateRequest{Name: name, Tenant: "acme", ExpiresIn: life})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(ctx, s.Reveal()); err != nil {
			t.Fatalf("%s: a fresh key: %v", name, err)
		}
		for {
			_, err := m.Verify(ctx, s.Reveal())
			if errors.Is(err, apikey.ErrExpired) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			// Generous for loaded CI machines; the tick is 10ms.
			if time.Since(start) > life+time.Second {
				t.Fatalf("%s: still accepted %v after creation, with a %v lifetime", name, time.Since(start), life)
			}
			time.Sleep(time.Millisecond)
		}
		if took := time.Since(start); took < life {
			t.Errorf("%s: expired after %v, before its %v lifetime", name, took, life)
		}
	}
	expires("before Close")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	expires("after Close")
}

// TestRecordDeletedElsewhere: when the store no longer has a key, a
// Revoke or Rotate through the Manager drops it from the index too.
func TestRecordDeletedElsewhere(t *testing.T) {
	f := newFixture(t, apikey.EnvTest)
	k, raw := f.create(t, "deploy")
	if err := f.mem.Delete(ctx, k.ID); err != nil { // behind the Manager's back
		t.Fatal(err)
	}
	if _, err := f.m.Verify(ctx, raw); err != nil {
		t.Fatalf("before the Manager learns of it: %v", err)
	}
	if err := f.m.Revoke(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("Revoke of a deleted key: %v", err)
	}
	if _, err := f.m.Verify(ctx, raw); !errors.Is(err, apikey.ErrUnknownKey) {
		t.Errorf("Verify after the Manager learned the key is gone: %v", err)
	}
}
