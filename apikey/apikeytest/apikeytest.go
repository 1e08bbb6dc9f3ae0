// Package apikeytest is the conformance suite that every apikey.Store
// backend passes. A backend's test calls RunTests with a constructor that
// returns a fresh, empty, isolated store for each subtest:
//
//	func TestStore(t *testing.T) {
//		apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
//			s := apikey.NewMemoryStore()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Times carry nanoseconds and a non-UTC zone, so a backend that rounds
// them or loses the instant fails.
package apikeytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
)

// RunTests runs the suite. newStore must return a new, empty store that no
// other subtest sees, and arrange for its Close.
func RunTests(t *testing.T, newStore func(t *testing.T) apikey.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s apikey.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateInvalid", testCreateInvalid},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateDuplicateHash", testCreateDuplicateHash},
		{"NameUniquePerTenant", testNameUniquePerTenant},
		{"GetUnknown", testGetUnknown},
		{"GetByHash", testGetByHash},
		{"List", testList},
		{"Update", testUpdate},
		{"UpdateRefused", testUpdateRefused},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"RotateRevokeRace", testRotateRevokeRace},
		{"TouchLastUsed", testTouchLastUsed},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Delete", testDelete},
		{"ReturnsCopies", testReturnsCopies},
		{"TimesExact", testTimesExact},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

var ctx = context.Background()

// zone is a fixed non-UTC zone: a store must keep the instant, and may
// return it in any zone.
var zone = time.FixedZone("UTC+5:30", 5*3600+1800)

// Base is the suite's "now": on a nanosecond no rounding keeps, in a
// non-UTC zone.
func Base() time.Time {
	return time.Unix(time.Now().Unix(), 123_456_789).In(zone)
}

// NewKey returns a valid record of a fresh test key of tenant named name,
// created at created, and the key's hash.
func NewKey(tenant, name string, created time.Time) apikey.Key {
	raw := newSecret()
	return apikey.Key{
		ID: apikey.NewID(), Name: name, Tenant: tenant,
		Scopes: []string{"api_keys:read", "tokens:issue"}, Roles: []string{"tenant_admin"},
		Env: apikey.EnvTest, Hash: apikey.HashOf(raw), MaskedKey: apikey.Mask(raw),
		CreatedAt: created, CreatedBy: "apikeytest",
	}
}

// NewHash returns the hash of a fresh test key.
func NewHash() apikey.Hash { return apikey.HashOf(newSecret()) }

func newSecret() string {
	s, err := apikey.Generate(apikey.EnvTest)
	if err != nil {
		panic(err)
	}
	return s.Reveal()
}

func create(t testing.TB, s apikey.Store, keys ...apikey.Key) {
	t.Helper()
	for _, k := range keys {
		if err := s.Create(ctx, k); err != nil {
			t.Fatalf("Create(%s): %v", k.ID, err)
		}
	}
}

func get(t testing.TB, s apikey.Store, id string) apikey.Key {
	t.Helper()
	k, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return k
}

// Diff describes how got differs from want, or is empty. Times compare as
// instants.
func Diff(got, want apikey.Key) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	for _, f := range []struct {
		name string
		g, w any
	}{
		{"ID", got.ID, want.ID}, {"Name", got.Name, want.Name}, {"Tenant", got.Tenant, want.Tenant},
		{"Env", got.Env, want.Env}, {"Hash", got.Hash, want.Hash}, {"PrevHash", got.PrevHash, want.PrevHash},
		{"MaskedKey", got.MaskedKey, want.MaskedKey}, {"CreatedBy", got.CreatedBy, want.CreatedBy},
	} {
		if f.g != f.w {
			add(f.name, f.g, f.w)
		}
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		add("Scopes", got.Scopes, want.Scopes)
	}
	if !slices.Equal(got.Roles, want.Roles) {
		add("Roles", got.Roles, want.Roles)
	}
	for _, f := range []struct {
		name string
		g, w time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt}, {"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"PrevValidUntil", got.PrevValidUntil, want.PrevValidUntil}, {"RotatedAt", got.RotatedAt, want.RotatedAt},
	} {
		if !f.g.Equal(f.w) {
			add(f.name, f.g, f.w)
		}
	}
	return strings.Join(d, "; ")
}

func testCreateGet(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "ci deploy", now)
	k.ExpiresAt = now.Add(time.Hour)
	other := NewKey("acme", "other", now)
	create(t, s, k, other)
	if d := Diff(get(t, s, k.ID), k); d != "" {
		t.Errorf("Get after Create: %s", d)
	}
	if d := Diff(get(t, s, other.ID), other); d != "" {
		t.Errorf("Get of a second key: %s", d)
	}
}

func testCreateInvalid(t *testing.T, s apikey.Store) {
	now := Base()
	for name, mutate := range map[string]func(*apikey.Key){
		"empty name":      func(k *apikey.Key) { k.Name = "" },
		"bad tenant":      func(k *apikey.Key) { k.Tenant = "a{b}" },
		"bad id":          func(k *apikey.Key) { k.ID = "key_../../etc" },
		"no hash":         func(k *apikey.Key) { k.Hash = apikey.Hash{} },
		"raw key as mask": func(k *apikey.Key) { k.MaskedKey = newSecret() },
		"prev without deadline": func(k *apikey.Key) {
			k.PrevHash = NewHash()
		},
	} {
		k := NewKey("acme", "k", now)
		mutate(&k)
		if err := s.Create(ctx, k); !errors.Is(err, apikey.ErrInvalid) || !errors.Is(err, relayauth.ErrInvalid) {
			t.Errorf("Create with %s: %v, want ErrInvalid", name, err)
		}
	}
	if list, err := s.List(ctx, ""); err != nil || len(list) != 0 {
		t.Errorf("after refused creates, List = %d keys, %v; want none", len(list), err)
	}
}

func testCreateDuplicateID(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "first", now)
	create(t, s, k)
	dup := NewKey("acme", "second", now)
	dup.ID = k.ID
	if err := s.Create(ctx, dup); !errors.Is(err, apikey.ErrExists) || !errors.Is(err, relayauth.ErrConflict) {
		t.Errorf("Create with a used id: %v, want ErrExists", err)
	}
	dup.Tenant = "globex" // ids are unique across tenants
	if err := s.Create(ctx, dup); !errors.Is(err, apikey.ErrExists) {
		t.Errorf("Create with an id used in another tenant: %v, want ErrExists", err)
	}
	if d := Diff(get(t, s, k.ID), k); d != "" {
		t.Errorf("the first key changed: %s", d)
	}
	if _, err := s.GetByHash(ctx, dup.Hash); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("a refused Create left its hash behind: %v", err)
	}
}

func testCreateDuplicateHash(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "first", now)
	k.PrevHash, k.PrevValidUntil = NewHash(), now.Add(time.Hour)
	create(t, s, k)
	cases := map[string]func(*apikey.Key){
		"hash = another's hash":      func(d *apikey.Key) { d.Hash = k.Hash },
		"hash = another's prev hash": func(d *apikey.Key) { d.Hash = k.PrevHash },
		"prev hash = another's hash": func(d *apikey.Key) { d.PrevHash, d.PrevValidUntil = k.Hash, now.Add(time.Hour) },
	}
	for name, mutate := range cases {
		d := NewKey("globex", "dup", now)
		mutate(&d)
		if err := s.Create(ctx, d); !errors.Is(err, apikey.ErrExists) {
			t.Errorf("Create with %s: %v, want ErrExists", name, err)
		}
		if _, err := s.Get(ctx, d.ID); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("Create with %s left a record: %v", name, err)
		}
	}
	if got, err := s.GetByHash(ctx, k.Hash); err != nil || got.ID != k.ID {
		t.Errorf("GetByHash of the first key = %s, %v", got.ID, err)
	}
	// The refused keys' names stay free.
	create(t, s, NewKey("globex", "dup", now))
}

func testNameUniquePerTenant(t *testing.T, s apikey.Store) {
	now := Base()
	a := NewKey("acme", "deploy", now)
	create(t, s, a)
	if err := s.Create(ctx, NewKey("acme", "deploy", now)); !errors.Is(err, apikey.ErrNameTaken) || !errors.Is(err, relayauth.ErrConflict) {
		t.Errorf("Create with a name taken in the tenant: %v, want ErrNameTaken", err)
	}
	create(t, s, NewKey("globex", "deploy", now)) // another tenant: fine
	create(t, s, NewKey("acme", "Deploy", now))   // names are case-sensitive
	// A rename frees the old name and takes the new one.
	if _, err := s.Update(ctx, a.ID, func(k *apikey.Key) error { k.Name = "deploy-old"; return nil }); err != nil {
		t.Fatal(err)
	}
	b := NewKey("acme", "deploy", now)
	create(t, s, b)
	if err := s.Create(ctx, NewKey("acme", "deploy-old", now)); !errors.Is(err, apikey.ErrNameTaken) {
		t.Errorf("Create with a name taken by a rename: %v, want ErrNameTaken", err)
	}
	// Delete frees the name.
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	create(t, s, NewKey("acme", "deploy", now))
}

func testGetUnknown(t *testing.T, s apikey.Store) {
	create(t, s, NewKey("acme", "k", Base()))
	for _, id := range []string{apikey.NewID(), "", "key_", "../../etc/passwd", "key_{acme}:x", "key_AAAAAAAAAAAAAAA}", strings.Repeat("x", 10000)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, apikey.ErrNotFound) || !errors.Is(err, relayauth.ErrNotFound) {
			t.Errorf("Get(%.20q): %v, want ErrNotFound", id, err)
		}
	}
	for _, h := range []apikey.Hash{{}, NewHash()} {
		if _, err := s.GetByHash(ctx, h); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("GetByHash(%s): %v, want ErrNotFound", h, err)
		}
	}
}

// rotate is what Manager.Rotate does to a record.
func rotate(k *apikey.Key, next apikey.Hash, now time.Time) {
	k.PrevHash, k.PrevValidUntil = k.Hash, now.Add(time.Hour)
	k.Hash, k.RotatedAt = next, now
}

func testGetByHash(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "k", now)
	create(t, s, k, NewKey("acme", "other", now))
	got, err := s.GetByHash(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(got, k); d != "" {
		t.Errorf("GetByHash(current): %s", d)
	}
	first, second, third := k.Hash, NewHash(), NewHash()
	if _, err := s.Update(ctx, k.ID, func(k *apikey.Key) error { rotate(k, second, now); return nil }); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]apikey.Hash{"current": second, "previous": first} {
		if got, err := s.GetByHash(ctx, h); err != nil || got.ID != k.ID || got.Hash != second || got.PrevHash != first {
			t.Errorf("after a rotation, GetByHash(%s) = %s (hash %s, prev %s), %v", name, got.ID, got.Hash, got.PrevHash, err)
		}
	}
	// A second rotation drops the first secret.
	if _, err := s.Update(ctx, k.ID, func(k *apikey.Key) error { rotate(k, third, now); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetByHash(ctx, first); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("GetByHash of a secret two rotations old: %v, want ErrNotFound", err)
	}
	for _, h := range []apikey.Hash{second, third} {
		if got, err := s.GetByHash(ctx, h); err != nil || got.ID != k.ID {
			t.Errorf("GetByHash after a second rotation = %s, %v", got.ID, err)
		}
	}
	// Ending the grace period in the record drops the previous hash.
	if _, err := s.Update(ctx, k.ID, func(k *apikey.Key) error {
		k.PrevHash, k.PrevValidUntil = apikey.Hash{}, time.Time{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetByHash(ctx, second); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("GetByHash of a cleared previous hash: %v, want ErrNotFound", err)
	}
	// The freed hash may be used again (by nobody in practice: this
	// checks that the store forgot it).
	reuse := NewKey("globex", "reuse", now)
	reuse.Hash = second
	create(t, s, reuse)
}

func ids(keys []apikey.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func testList(t *testing.T, s apikey.Store) {
	now := Base()
	// Created out of order; two share a CreatedAt, so ids break the tie.
	a1 := NewKey("acme", "a1", now.Add(2*time.Second))
	a2 := NewKey("acme", "a2", now)
	a3 := NewKey("acme", "a3", now.Add(time.Second))
	a4 := NewKey("acme", "a4", now.Add(time.Second))
	b1 := NewKey("globex", "b1", now.Add(500*time.Millisecond))
	b2 := NewKey("acme.eu", "b2", now.Add(500*time.Millisecond)) // a tenant with punctuation
	create(t, s, a1, a2, a3, a4, b1, b2)
	tie := []string{a3.ID, a4.ID}
	slices.Sort(tie)
	wantA := append(append([]string{a2.ID}, tie...), a1.ID)
	for _, tc := range []struct {
		tenant string
		want   []string
	}{
		{"acme", wantA},
		{"globex", []string{b1.ID}},
		{"acme.eu", []string{b2.ID}},
		{"nobody", nil},
	} {
		got, err := s.List(ctx, tc.tenant)
		if err != nil {
			t.Fatalf("List(%q): %v", tc.tenant, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.tenant, ids(got), tc.want)
		}
	}
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var want []apikey.Key
	for _, k := range []apikey.Key{a1, a2, a3, a4, b1, b2} {
		want = append(want, k)
	}
	apikey.SortKeys(want)
	if !slices.Equal(ids(all), ids(want)) {
		t.Errorf("List(\"\") = %v, want %v", ids(all), ids(want))
	}
	for _, k := range all {
		if k.ID == a1.ID {
			if d := Diff(k, a1); d != "" {
				t.Errorf("List's record of a1: %s", d)
			}
		}
	}
}

func testUpdate(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "k", now)
	create(t, s, k)
	revoked := now.Add(time.Minute)
	got, err := s.Update(ctx, k.ID, func(r *apikey.Key) error {
		if d := Diff(*r, k); d != "" {
			t.Errorf("Update's fn saw: %s", d)
		}
		r.Name = "renamed"
		r.Scopes = append(r.Scopes, "extra:scope")
		r.RevokedAt = revoked
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := k.Clone()
	want.Name, want.Scopes, want.RevokedAt = "renamed", append(want.Scopes, "extra:scope"), revoked
	if d := Diff(got, want); d != "" {
		t.Errorf("Update's result: %s", d)
	}
	if d := Diff(get(t, s, k.ID), want); d != "" {
		t.Errorf("Get after Update: %s", d)
	}
	// fn's error is returned and nothing changes.
	boom := errors.New("boom")
	if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { r.Name = "nope"; return boom }); !errors.Is(err, boom) {
		t.Errorf("Update with a failing fn: %v, want its error", err)
	}
	if d := Diff(get(t, s, k.ID), want); d != "" {
		t.Errorf("a failed Update changed the record: %s", d)
	}
	if _, err := s.Update(ctx, apikey.NewID(), func(*apikey.Key) error { return nil }); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Update of an unknown id: %v, want ErrNotFound", err)
	}
}

func testUpdateRefused(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "k", now)
	other := NewKey("acme", "other", now)
	create(t, s, k, other)
	for _, tc := range []struct {
		name string
		fn   func(*apikey.Key)
		want error
	}{
		{"new id", func(r *apikey.Key) { r.ID = apikey.NewID() }, apikey.ErrInvalid},
		{"new tenant", func(r *apikey.Key) { r.Tenant = "globex" }, apikey.ErrInvalid},
		{"new env", func(r *apikey.Key) {
			r.Env = apikey.EnvLive
			r.MaskedKey = "rk_live_…abcd"
		}, apikey.ErrInvalid},
		{"new created_at", func(r *apikey.Key) { r.CreatedAt = r.CreatedAt.Add(time.Second) }, apikey.ErrInvalid},
		{"invalid result", func(r *apikey.Key) { r.Name = strings.Repeat("n", 65) }, apikey.ErrInvalid},
		{"taken name", func(r *apikey.Key) { r.Name = "other" }, apikey.ErrNameTaken},
		{"another key's hash", func(r *apikey.Key) { r.Hash = other.Hash }, apikey.ErrExists},
		{"another key's hash as prev", func(r *apikey.Key) { rotate(r, NewHash(), now); r.PrevHash = other.Hash }, apikey.ErrExists},
	} {
		if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { tc.fn(r); return nil }); !errors.Is(err, tc.want) {
			t.Errorf("Update with %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if d := Diff(get(t, s, k.ID), k); d != "" {
		t.Errorf("refused Updates changed the record: %s", d)
	}
	if got, err := s.GetByHash(ctx, other.Hash); err != nil || got.ID != other.ID {
		t.Errorf("refused Updates disturbed another key's hash: %s, %v", got.ID, err)
	}
}

// testUpdateConcurrent: 20 goroutines each add one scope; none is lost.
func testUpdateConcurrent(t *testing.T, s apikey.Store) {
	k := NewKey("acme", "k", Base())
	k.Scopes = nil
	create(t, s, k)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Update(ctx, k.ID, func(r *apikey.Key) error {
				r.Scopes = append(r.Scopes, fmt.Sprintf("scope%02d", i))
				return nil
			})
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := get(t, s, k.ID)
	if len(got.Scopes) != n {
		t.Errorf("after %d concurrent Updates the key has %d scopes: %v (lost updates)", n, len(got.Scopes), got.Scopes)
	}
}

// testRotateRevokeRace: a rotation and a revocation of one key, at the
// same time, both take effect.
func testRotateRevokeRace(t *testing.T, s apikey.Store) {
	now := Base()
	for round := range 10 {
		k := NewKey("acme", fmt.Sprintf("k%d", round), now)
		create(t, s, k)
		next := NewHash()
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { rotate(r, next, now); return nil }); err != nil {
				t.Errorf("rotate: %v", err)
			}
		})
		wg.Go(func() {
			<-start
			if _, err := s.Update(ctx, k.ID, func(r *apikey.Key) error { r.RevokedAt = now; return nil }); err != nil {
				t.Errorf("revoke: %v", err)
			}
		})
		close(start)
		wg.Wait()
		got := get(t, s, k.ID)
		if got.RevokedAt.IsZero() || got.Hash != next || got.PrevHash != k.Hash {
			t.Fatalf("round %d: after racing rotate and revoke: revoked %v, rotated %v (lost update)",
				round, !got.RevokedAt.IsZero(), got.Hash == next)
		}
		for _, h := range []apikey.Hash{k.Hash, next} {
			if byHash, err := s.GetByHash(ctx, h); err != nil || byHash.RevokedAt.IsZero() {
				t.Errorf("round %d: GetByHash = revoked %v, %v", round, !byHash.RevokedAt.IsZero(), err)
			}
		}
	}
}

func testTouchLastUsed(t *testing.T, s apikey.Store) {
	now := Base()
	a, b, c := NewKey("acme", "a", now), NewKey("acme", "b", now), NewKey("globex", "c", now)
	create(t, s, a, b, c)
	t1, t2 := now.Add(time.Minute), now.Add(2*time.Minute)
	if err := s.TouchLastUsed(ctx, map[string]time.Time{a.ID: t2, b.ID: t1, c.ID: t1, apikey.NewID(): t1}); err != nil {
		t.Fatalf("TouchLastUsed (with an unknown id): %v", err)
	}
	check := func(when string, id string, want time.Time) {
		t.Helper()
		if got := get(t, s, id); !got.LastUsedAt.Equal(want) {
			t.Errorf("%s: LastUsedAt = %v, want %v", when, got.LastUsedAt, want)
		}
	}
	check("first touch", a.ID, t2)
	check("first touch", b.ID, t1)
	check("first touch", c.ID, t1)
	// Only forward.
	if err := s.TouchLastUsed(ctx, map[string]time.Time{a.ID: t1, b.ID: t2}); err != nil {
		t.Fatal(err)
	}
	check("an earlier time", a.ID, t2)
	check("a later time", b.ID, t2)
	// Update neither loses nor lowers it.
	if _, err := s.Update(ctx, a.ID, func(r *apikey.Key) error { r.LastUsedAt = t1; r.Name = "a2"; return nil }); err != nil {
		t.Fatal(err)
	}
	check("an Update that sets an earlier time", a.ID, t2)
	if err := s.TouchLastUsed(ctx, nil); err != nil {
		t.Errorf("TouchLastUsed(nil): %v", err)
	}
	// Other fields are untouched.
	want := b.Clone()
	want.LastUsedAt = t2
	if d := Diff(get(t, s, b.ID), want); d != "" {
		t.Errorf("TouchLastUsed changed more than LastUsedAt: %s", d)
	}
}

func testConcurrentCreate(t *testing.T, s apikey.Store) {
	now := Base()
	const n = 50
	keys := make([]apikey.Key, n)
	var wg sync.WaitGroup
	for i := range keys {
		keys[i] = NewKey(fmt.Sprintf("tenant%d", i%3), fmt.Sprintf("key %d", i), now.Add(time.Duration(i)))
		wg.Go(func() {
			if err := s.Create(ctx, keys[i]); err != nil {
				t.Errorf("Create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("after %d concurrent Creates, List has %d keys", n, len(all))
	}
	for _, k := range keys {
		if got, err := s.GetByHash(ctx, k.Hash); err != nil || got.ID != k.ID {
			t.Errorf("GetByHash of %s: %s, %v", k.ID, got.ID, err)
		}
	}
}

func testDelete(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "k", now)
	rotate(&k, NewHash(), now)
	keep := NewKey("acme", "keep", now)
	create(t, s, k, keep)
	if err := s.Delete(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	for _, h := range []apikey.Hash{k.Hash, k.PrevHash} {
		if _, err := s.GetByHash(ctx, h); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("GetByHash after Delete: %v", err)
		}
	}
	if err := s.Delete(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, k.ID, func(*apikey.Key) error { return nil }); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Update after Delete: %v, want ErrNotFound", err)
	}
	if list, _ := s.List(ctx, "acme"); !slices.Equal(ids(list), []string{keep.ID}) {
		t.Errorf("List after Delete = %v, want only %s", ids(list), keep.ID)
	}
	// Everything the key held is free again.
	again := NewKey("acme", "k", now)
	again.ID, again.Hash = k.ID, k.Hash
	create(t, s, again)
}

func testReturnsCopies(t *testing.T, s apikey.Store) {
	k := NewKey("acme", "k", Base())
	in := k.Clone()
	create(t, s, in)
	in.Scopes[0] = "changed:after:create"
	got := get(t, s, k.ID)
	got.Scopes[0] = "changed:after:get"
	list, _ := s.List(ctx, "acme")
	list[0].Roles[0] = "changed"
	byHash, _ := s.GetByHash(ctx, k.Hash)
	byHash.Scopes[1] = "changed"
	upd, err := s.Update(ctx, k.ID, func(*apikey.Key) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	upd.Scopes[0] = "changed"
	if d := Diff(get(t, s, k.ID), k); d != "" {
		t.Errorf("changing returned records changed the store: %s", d)
	}
}

func testTimesExact(t *testing.T, s apikey.Store) {
	now := Base()
	k := NewKey("acme", "k", now)
	k.ExpiresAt = now.Add(90*24*time.Hour + 1)
	k.PrevHash, k.PrevValidUntil, k.RotatedAt = NewHash(), now.Add(time.Hour+7), now.Add(3)
	k.RevokedAt = now.Add(5)
	k.LastUsedAt = now.Add(11)
	create(t, s, k)
	if d := Diff(get(t, s, k.ID), k); d != "" {
		t.Errorf("times after a round trip: %s", d)
	}
}

func testPing(t *testing.T, s apikey.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
