package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
	"github.com/relayauth/relayauth/internal/testredis"
)

var ctx = context.Background()

// client returns a client of the shared test server, closed with the test.
func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testredis.Addr(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a store under a prefix of its own; the test's keys are
// deleted with it.
func newStore(t testing.TB, c redis.UniversalClient, prefix string) *Store {
	t.Helper()
	s, err := New(ctx, c, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		for _, k := range scan(t, c, prefix) {
			c.Unlink(ctx, k)
		}
	})
	return s
}

func scan(t testing.TB, c redis.UniversalClient, prefix string) []string {
	var out []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestConformance(t *testing.T) {
	c := client(t)
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		return newStore(t, c, testredis.Prefix(t))
	})
}

// TestConformanceFreshStores runs the suite with the id → tenant cache
// empty on every call, as on an instance that did not write the keys.
func TestConformanceFreshStores(t *testing.T) {
	c := client(t)
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		return forgetful{newStore(t, c, testredis.Prefix(t))}
	})
}

type forgetful struct{ *Store }

func (f forgetful) forget() {
	f.tenantOf.Range(func(k, _ any) bool { f.tenantOf.Delete(k); return true })
}

func (f forgetful) Get(ctx context.Context, id string) (apikey.Key, error) {
	f.forget()
	return f.Store.Get(ctx, id)
}

func (f forgetful) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	f.forget()
	return f.Store.Update(ctx, id, fn)
}

func (f forgetful) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	f.forget()
	return f.Store.TouchLastUsed(ctx, used)
}

func (f forgetful) Delete(ctx context.Context, id string) error {
	f.forget()
	return f.Store.Delete(ctx, id)
}

// TestLayout: the keys a key's life writes are the documented ones, the
// tenant's in one hash-tag slot, none with a TTL.
func TestLayout(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	s := newStore(t, c, prefix)
	k := apikeytest.NewKey("acme:eu", "deploy", apikeytest.Base())
	if err := s.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	next := apikeytest.NewHash()
	if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error {
		r.PrevHash, r.PrevValidUntil, r.Hash = r.Hash, r.CreatedAt.Add(time.Hour), next
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchLastUsed(ctx, map[string]time.Time{k.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		prefix + "ak:h:{" + k.Hash.String() + "}",
		prefix + "ak:h:{" + next.String() + "}",
		prefix + "ak:id:{" + k.ID + "}",
		prefix + "ak:tenants",
		prefix + "ak:{acme:eu}:ids",
		prefix + "ak:{acme:eu}:k:" + k.ID,
		prefix + "ak:{acme:eu}:names",
	}
	slices.Sort(want)
	got := scan(t, c, prefix)
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, key := range got {
		if ttl := c.PTTL(ctx, key).Val(); ttl != -1 {
			t.Errorf("%s has a TTL (%v): expiry is the Manager's check", key, ttl)
		}
	}
	fields := c.HGetAll(ctx, s.keys.record("acme:eu", k.ID)).Val()
	if fields["name"] != "deploy" || fields["ver"] != "2" || fields["lu"] == "" || strings.Contains(fields["doc"], "last_used_at") {
		t.Errorf("record fields: %v", fields)
	}
}

// TestLeftoversAreHarmless: index entries left by a crash between steps
// point at nothing, and every lookup checks the record.
func TestLeftoversAreHarmless(t *testing.T) {
	c := client(t)
	s := newStore(t, c, testredis.Prefix(t))
	k := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	if err := s.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	ghostID, ghostHash := apikey.NewID(), apikeytest.NewHash()
	c.Set(ctx, s.keys.idIndex(ghostID), "acme", 0)                     // Create died after its claims
	c.Set(ctx, s.keys.hashIndex(ghostHash), owner(ghostID, "acme"), 0) // same
	stale := apikeytest.NewHash()
	c.Set(ctx, s.keys.hashIndex(stale), owner(k.ID, "acme"), 0) // Update died before its swap
	if _, err := s.Get(ctx, ghostID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Get of a claimed id without a record: %v", err)
	}
	for _, h := range []apikey.Hash{ghostHash, stale} {
		if _, err := s.GetByHash(ctx, h); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("GetByHash of a leftover entry: %v", err)
		}
	}
	if l, _ := s.List(ctx, "acme"); len(l) != 1 {
		t.Errorf("List shows %d keys, want 1", len(l))
	}
	// Garbage in an index is an outage, not a key.
	bad := apikeytest.NewHash()
	c.Set(ctx, s.keys.hashIndex(bad), "not an owner", 0)
	if _, err := s.GetByHash(ctx, bad); !errors.Is(err, relayauth.ErrUnavailable) {
		t.Errorf("GetByHash of a corrupt entry: %v", err)
	}
}

// TestRefusedWritesLeaveNothing: a Create refused for its name takes its
// claims back.
func TestRefusedWritesLeaveNothing(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	s := newStore(t, c, prefix)
	if err := s.Create(ctx, apikeytest.NewKey("acme", "deploy", apikeytest.Base())); err != nil {
		t.Fatal(err)
	}
	before := scan(t, c, prefix)
	dup := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	if err := s.Create(ctx, dup); !errors.Is(err, apikey.ErrNameTaken) {
		t.Fatal(err)
	}
	if after := scan(t, c, prefix); !slices.Equal(before, after) {
		t.Errorf("a refused Create left keys: %v", after)
	}
}

func TestUnavailable(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	if _, err := New(ctx, dead); !errors.Is(err, relayauth.ErrUnavailable) {
		t.Errorf("New on an unreachable Redis: %v, want ErrUnavailable", err)
	}
	s := &Store{rdb: dead, keys: keys{"x:"}}
	k := apikeytest.NewKey("acme", "k", apikeytest.Base())
	_, errGet := s.Get(ctx, k.ID)
	_, errHash := s.GetByHash(ctx, k.Hash)
	_, errList := s.List(ctx, "")
	_, errUpd := s.Update(ctx, k.ID, func(*apikey.Key) error { return nil })
	for name, err := range map[string]error{
		"Create": s.Create(ctx, k), "Get": errGet, "GetByHash": errHash, "List": errList, "Update": errUpd,
		"Touch": s.TouchLastUsed(ctx, map[string]time.Time{k.ID: time.Now()}), "Delete": s.Delete(ctx, k.ID),
	} {
		if !errors.Is(err, relayauth.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", name, err)
		}
	}
	if _, err := New(ctx, dead, WithPrefix("a{b}")); err == nil {
		t.Error("New accepted a prefix with a brace")
	}
}

// TestManagersShareRedis: keys created on one instance work on another;
// a revocation is seen by any instance that loads or looks the key up
// afterwards; no key reaches Redis.
func TestManagersShareRedis(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	quiet := apikey.WithLogger(slog.New(slog.DiscardHandler))
	instance := func() *apikey.Manager {
		m, err := apikey.NewManager(newStore(t, c, prefix), apikey.EnvLive, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := instance(), instance()
	k, raw, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme", Scopes: []string{"tokens:issue"}})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := b.Verify(ctx, raw.Reveal()); err != nil || id.ID != k.ID {
		t.Fatalf("another instance: %v", err)
	}
	_, rotated, err := b.Rotate(ctx, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, rotated.Reveal()); err != nil {
		t.Errorf("the rotated key on the first instance: %v", err)
	}
	if err := a.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := instance().Verify(ctx, raw.Reveal()); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("a new instance after the revocation: %v, want ErrRevoked", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for _, key := range scan(t, c, prefix) {
		dump := c.Dump(ctx, key).Val()
		if strings.Contains(dump, raw.Reveal()[8:41]) || strings.Contains(dump, rotated.Reveal()[8:41]) {
			t.Errorf("%s holds a key", key)
		}
	}
	got, err := b.Get(ctx, k.ID)
	if err != nil || got.RevokedAt.IsZero() || got.LastUsedAt.IsZero() {
		t.Errorf("the record after all that: revoked %v, last used %v, %v", got.RevokedAt, got.LastUsedAt, err)
	}
}

func BenchmarkGetByHash(b *testing.B) {
	c := client(b)
	s := newStore(b, c, testredis.Prefix(b))
	k := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	if err := s.Create(ctx, k); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetByHash(ctx, k.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	c := client(b)
	s := newStore(b, c, testredis.Prefix(b))
	k := apikeytest.NewKey("acme", "deploy", apikeytest.Base())
	if err := s.Create(ctx, k); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { r.RevokedAt = time.Now(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
