// Package sessiontest is the conformance suite that every session.Store
// backend passes. A backend's test calls RunTests with a constructor that
// returns a fresh, empty, isolated store for each subtest:
//
//	func TestStore(t *testing.T) {
//		sessiontest.RunTests(t, func(t *testing.T) session.Store {
//			s := session.NewMemoryStore()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite passes times near the wall clock (an hour ahead, with a
// sub-millisecond part) so that backends whose server expires keys on its
// own clock, like Redis, keep every session the test expects to be there,
// and so that a backend that rounds times to milliseconds fails.
package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relayauth/relayauth/session"
)

// RunTests runs the suite. newStore must return a new, empty store that no
// other subtest sees, and arrange for its Close.
func RunTests(t *testing.T, newStore func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s session.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateInvalid", testCreateInvalid},
		{"GetUnknown", testGetUnknown},
		{"CheckUnknown", testCheckUnknown},
		{"Expiry", testExpiry},
		{"List", testList},
		{"ListOrderAndExpiry", testListOrderAndExpiry},
		{"Revoke", testRevoke},
		{"Rotate", testRotate},
		{"RotateReuseRevokes", testRotateReuse},
		{"RotateRepeated", testRotateRepeated},
		{"RotateUnknownOrExpired", testRotateUnknownOrExpired},
		{"RotateConcurrent", testRotateConcurrent},
		{"RevokeSubject", testRevokeSubject},
		{"RevokeTenant", testRevokeTenant},
		{"RevokeAll", testRevokeAll},
		{"RevocationInstant", testRevocationInstant},
		{"EpochsOnlyRise", testEpochsOnlyRise},
		{"EmptyTenantAndSubject", testEmptyTenantAndSubject},
		{"Ping", testPing},
		{"Concurrent", testConcurrent},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

var ctx = context.Background()

// base is the suite's "now": an hour ahead of the wall clock, on a
// nanosecond that no millisecond rounding keeps.
func base() time.Time {
	return time.Unix(time.Now().Add(time.Hour).Unix(), 123_456_789).UTC()
}

func newID(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sess returns a session of subject in tenant created at created that
// lives for ttl.
func sess(t testing.TB, tenant, subject string, created time.Time, ttl time.Duration) session.Session {
	return session.Session{
		ID:         newID(t),
		Subject:    subject,
		Tenant:     tenant,
		Roles:      []string{"tenant_admin"},
		Scopes:     []string{"tokens:issue", "sessions:revoke"},
		CreatedAt:  created,
		LastSeenAt: created,
		ExpiresAt:  created.Add(ttl),
		IP:         "203.0.113.7",
		UserAgent:  "sessiontest/1.0",
		RefreshID:  newID(t),
	}
}

func create(t testing.TB, s session.Store, ss ...session.Session) {
	t.Helper()
	for _, x := range ss {
		if err := s.Create(ctx, x); err != nil {
			t.Fatalf("Create(%s): %v", x.ID, err)
		}
	}
}

// diff describes how got differs from want, or is empty.
func diff(got, want session.Session) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Subject != want.Subject {
		add("Subject", got.Subject, want.Subject)
	}
	if got.Tenant != want.Tenant {
		add("Tenant", got.Tenant, want.Tenant)
	}
	if !slices.Equal(got.Roles, want.Roles) {
		add("Roles", got.Roles, want.Roles)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		add("Scopes", got.Scopes, want.Scopes)
	}
	for _, f := range []struct {
		name string
		g, w time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"LastSeenAt", got.LastSeenAt, want.LastSeenAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		// Equal and UnixNano: same instant, to the nanosecond.
		if !f.g.Equal(f.w) || f.g.UnixNano() != f.w.UnixNano() {
			add(f.name, f.g.Format(time.RFC3339Nano), f.w.Format(time.RFC3339Nano))
		}
	}
	if got.IP != want.IP {
		add("IP", got.IP, want.IP)
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", got.UserAgent, want.UserAgent)
	}
	if got.RefreshID != want.RefreshID {
		add("RefreshID", got.RefreshID, want.RefreshID)
	}
	return fmt.Sprint(d)
}

func wantSession(t testing.TB, got session.Session, err error, want session.Session) {
	t.Helper()
	if err != nil {
		t.Fatalf("session %s: %v", want.ID, err)
	}
	if d := diff(got, want); d != "[]" {
		t.Errorf("session %s: %s", want.ID, d)
	}
}

// wantLive asserts that id is live at now for Get and Check.
func wantLive(t testing.TB, s session.Store, id string, now time.Time) {
	t.Helper()
	if _, err := s.Get(ctx, id, now); err != nil {
		t.Errorf("Get(%s) at %v: %v, want live", id, now.Format(time.RFC3339Nano), err)
	}
	if err := s.Check(ctx, id, now); err != nil {
		t.Errorf("Check(%s) at %v: %v, want nil", id, now.Format(time.RFC3339Nano), err)
	}
}

// wantDead asserts that id is not live at now: Get says ErrNotFound and
// Check fails with ErrNotFound.
func wantDead(t testing.TB, s session.Store, id string, now time.Time) {
	t.Helper()
	if got, err := s.Get(ctx, id, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get(%s) at %v = %+v, %v; want ErrNotFound", id, now.Format(time.RFC3339Nano), got, err)
	}
	if err := s.Check(ctx, id, now); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Check(%s) at %v = %v, want ErrNotFound", id, now.Format(time.RFC3339Nano), err)
	}
}

func ids(list []session.Session) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.ID
	}
	return out
}

func wantList(t testing.TB, s session.Store, f session.Filter, now time.Time, want ...session.Session) {
	t.Helper()
	got, err := s.List(ctx, f, now)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("List(%+v) = %v, want %v", f, ids(got), ids(want))
		return
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "[]" {
			t.Errorf("List(%+v)[%d]: %s", f, i, d)
		}
	}
}

func testCreateGet(t *testing.T, s session.Store) {
	now := base()
	want := session.Session{
		ID:         newID(t),
		Subject:    "user:alice@example.com",
		Tenant:     "tenant-{a}:1",
		Roles:      []string{"admin", "tenant_admin", "", "odd:role 3:x"},
		Scopes:     []string{"tokens:issue", "api_keys:read"},
		CreatedAt:  now,
		LastSeenAt: now.Add(time.Nanosecond),
		ExpiresAt:  now.Add(time.Hour + 7*time.Nanosecond),
		IP:         "2001:db8::1",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) ünïcödé",
		RefreshID:  newID(t),
	}
	create(t, s, want)
	got, err := s.Get(ctx, want.ID, now)
	wantSession(t, got, err, want)
	if err := s.Check(ctx, want.ID, now); err != nil {
		t.Errorf("Check: %v", err)
	}

	// No roles or scopes, no IP or user agent: all round-trip as empty.
	bare := session.Session{ID: newID(t), Subject: "bob", Tenant: "t", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute), RefreshID: newID(t)}
	create(t, s, bare)
	got, err = s.Get(ctx, bare.ID, now)
	wantSession(t, got, err, bare)

	// The store keeps its own copy: changing the caller's slices later
	// changes nothing.
	want.Roles[0] = "changed"
	got, err = s.Get(ctx, want.ID, now)
	if err != nil || got.Roles[0] != "admin" {
		t.Errorf("Get after the caller changed its Roles: %v, %v", got.Roles, err)
	}
}

func testCreateDuplicate(t *testing.T, s session.Store) {
	now := base()
	first := sess(t, "t1", "alice", now, time.Hour)
	create(t, s, first)
	dup := sess(t, "t2", "mallory", now, 2*time.Hour)
	dup.ID = first.ID
	if err := s.Create(ctx, dup); !errors.Is(err, session.ErrExists) {
		t.Fatalf("Create with a taken id: %v, want ErrExists", err)
	}
	got, err := s.Get(ctx, first.ID, now)
	wantSession(t, got, err, first)
}

func testCreateInvalid(t *testing.T, s session.Store) {
	now := base()
	noID := sess(t, "t", "alice", now, time.Hour)
	noID.ID = ""
	zero := sess(t, "t", "alice", now, time.Hour)
	zero.ExpiresAt = time.Time{}
	for _, x := range []session.Session{noID, zero} {
		if err := s.Create(ctx, x); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("Create(%+v): %v, want ErrInvalid", x, err)
		}
	}
}

func testGetUnknown(t *testing.T, s session.Store) {
	if _, err := s.Get(ctx, newID(t), base()); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "", base()); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get of the empty id: %v, want ErrNotFound", err)
	}
}

func testCheckUnknown(t *testing.T, s session.Store) {
	now := base()
	create(t, s, sess(t, "t", "alice", now, time.Hour))
	for _, id := range []string{newID(t), "", "../../etc/passwd", "{x}"} {
		// Twice: a backend that caches misses must keep failing.
		for range 2 {
			if err := s.Check(ctx, id, now); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Check(%q) of an unknown id: %v, want ErrNotFound", id, err)
			}
		}
	}
}

func testExpiry(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "t", "alice", now, 30*time.Minute)
	create(t, s, x)
	wantLive(t, s, x.ID, x.ExpiresAt.Add(-time.Nanosecond))
	wantList(t, s, session.Filter{}, x.ExpiresAt.Add(-time.Nanosecond), x)
	// ExpiresAt itself is not after now: gone.
	wantDead(t, s, x.ID, x.ExpiresAt)
	wantList(t, s, session.Filter{}, x.ExpiresAt)
	wantDead(t, s, x.ID, x.ExpiresAt.Add(time.Hour))
}

func testList(t *testing.T, s session.Store) {
	now := base()
	aAlice1 := sess(t, "A", "alice", now, time.Hour)
	aBob := sess(t, "A", "bob", now.Add(1), time.Hour)
	bAlice := sess(t, "B", "alice", now.Add(2), time.Hour)
	aAlice2 := sess(t, "A", "alice", now.Add(3), time.Hour)
	bCarol := sess(t, "B", "carol", now.Add(4), time.Hour)
	// Created out of order: List sorts by CreatedAt, not insertion.
	create(t, s, bCarol, aAlice2, aBob, bAlice, aAlice1)

	wantList(t, s, session.Filter{}, now.Add(time.Minute), aAlice1, aBob, bAlice, aAlice2, bCarol)
	wantList(t, s, session.Filter{Tenant: "A"}, now.Add(time.Minute), aAlice1, aBob, aAlice2)
	wantList(t, s, session.Filter{Tenant: "B"}, now.Add(time.Minute), bAlice, bCarol)
	wantList(t, s, session.Filter{Subject: "alice"}, now.Add(time.Minute), aAlice1, bAlice, aAlice2)
	wantList(t, s, session.Filter{Subject: "alice", Tenant: "A"}, now.Add(time.Minute), aAlice1, aAlice2)
	wantList(t, s, session.Filter{Subject: "alice", Tenant: "B"}, now.Add(time.Minute), bAlice)
	wantList(t, s, session.Filter{Subject: "carol", Tenant: "A"}, now.Add(time.Minute))
	wantList(t, s, session.Filter{Tenant: "C"}, now.Add(time.Minute))
	wantList(t, s, session.Filter{Subject: "nobody"}, now.Add(time.Minute))

	// A revoked session is not listed.
	if err := s.Revoke(ctx, aBob.ID); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, session.Filter{Tenant: "A"}, now.Add(time.Minute), aAlice1, aAlice2)
}

func testListOrderAndExpiry(t *testing.T, s session.Store) {
	now := base()
	short := sess(t, "t", "alice", now, 10*time.Minute)
	long := sess(t, "t", "alice", now.Add(time.Nanosecond), 2*time.Hour)
	same1 := sess(t, "t", "alice", now.Add(2), time.Hour)
	same2 := sess(t, "t", "alice", now.Add(2), time.Hour)
	if same2.ID < same1.ID {
		same1, same2 = same2, same1 // equal CreatedAt: ordered by id
	}
	create(t, s, same2, long, short, same1)
	wantList(t, s, session.Filter{Tenant: "t"}, now, short, long, same1, same2)
	// Expired sessions are invisible.
	wantList(t, s, session.Filter{Tenant: "t"}, now.Add(10*time.Minute), long, same1, same2)
	wantList(t, s, session.Filter{Subject: "alice"}, now.Add(90*time.Minute), long)
	wantList(t, s, session.Filter{}, now.Add(3*time.Hour))
}

func testRevoke(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "t", "alice", now, time.Hour)
	other := sess(t, "t", "alice", now, time.Hour)
	create(t, s, x, other)
	if err := s.Revoke(ctx, x.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantDead(t, s, x.ID, now)
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, newID(t), now, now.Add(time.Hour)); err == nil {
		t.Error("Rotate of a revoked session succeeded")
	}
	if err := s.Revoke(ctx, x.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("second Revoke: %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, newID(t)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Revoke of an unknown id: %v, want ErrNotFound", err)
	}
	wantLive(t, s, other.ID, now)
	wantList(t, s, session.Filter{}, now, other)
}

func testRotate(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "t", "alice", now, time.Hour)
	create(t, s, x)
	later := now.Add(10*time.Minute + 1)
	next := newID(t)
	got, err := s.Rotate(ctx, x.ID, x.RefreshID, next, later, later.Add(time.Hour))
	want := x
	want.RefreshID, want.LastSeenAt, want.ExpiresAt = next, later, later.Add(time.Hour)
	wantSession(t, got, err, want)
	got, err = s.Get(ctx, x.ID, later)
	wantSession(t, got, err, want)
	// The new expiry holds: live past the old one.
	wantLive(t, s, x.ID, x.ExpiresAt.Add(time.Minute))

	// Rotating again with the current id works too.
	next2 := newID(t)
	got, err = s.Rotate(ctx, x.ID, next, next2, later.Add(1), later.Add(2*time.Hour))
	want.RefreshID, want.LastSeenAt, want.ExpiresAt = next2, later.Add(1), later.Add(2*time.Hour)
	wantSession(t, got, err, want)
	wantLive(t, s, x.ID, want.ExpiresAt.Add(-1))
	// Dead at the new expiry (asked last: a store may evict on access).
	wantDead(t, s, x.ID, want.ExpiresAt)
}

func testRotateReuse(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "t", "alice", now, time.Hour)
	bystander := sess(t, "t", "alice", now, time.Hour)
	create(t, s, x, bystander)
	next := newID(t)
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, next, now, now.Add(time.Hour)); err != nil {
		t.Fatalf("first Rotate: %v", err)
	}
	// The old refresh id again: reuse. The whole session is revoked.
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, newID(t), now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Fatalf("Rotate with a used refresh id: %v, want ErrRefreshReused", err)
	}
	wantDead(t, s, x.ID, now)
	wantList(t, s, session.Filter{}, now, bystander)
	// Even the current refresh id is dead now.
	if _, err := s.Rotate(ctx, x.ID, next, newID(t), now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) && !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Rotate of a session revoked for reuse: %v, want ErrRefreshReused or ErrNotFound", err)
	}
	wantDead(t, s, x.ID, now)
	if err := s.Revoke(ctx, x.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Revoke of a session revoked for reuse: %v, want ErrNotFound", err)
	}
	wantLive(t, s, bystander.ID, now)

	// A refresh id that never was this session's is reuse as well.
	y := sess(t, "t", "alice", now, time.Hour)
	create(t, s, y)
	if _, err := s.Rotate(ctx, y.ID, "forged", newID(t), now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Errorf("Rotate with a forged refresh id: %v, want ErrRefreshReused", err)
	}
	wantDead(t, s, y.ID, now)

	// The empty string is no refresh token's id, even for a session
	// recorded without one.
	z := sess(t, "t", "alice", now, time.Hour)
	z.RefreshID = ""
	create(t, s, z)
	if _, err := s.Rotate(ctx, z.ID, "", newID(t), now, now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Errorf("Rotate with an empty refresh id: %v, want ErrRefreshReused", err)
	}
}

// testRotateRepeated: the same Rotate call made again (a client
// library's retry after the reply to the first was lost) succeeds again
// with the same session, and revokes nothing: the store holds the refresh
// id, last-seen time and expiry this call installs. Any other call with
// the replaced refresh id is still reuse, even with the same next id.
func testRotateRepeated(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "t", "alice", now, time.Hour)
	create(t, s, x)
	later := now.Add(time.Minute)
	next := newID(t)
	want := x
	want.RefreshID, want.LastSeenAt, want.ExpiresAt = next, later, later.Add(time.Hour)
	for i := range 2 {
		got, err := s.Rotate(ctx, x.ID, x.RefreshID, next, later, later.Add(time.Hour))
		if err != nil {
			t.Fatalf("Rotate, call %d of the same: %v", i+1, err)
		}
		wantSession(t, got, err, want)
	}
	got, err := s.Get(ctx, x.ID, later)
	wantSession(t, got, err, want)
	// The installed refresh id works.
	next2 := newID(t)
	if _, err := s.Rotate(ctx, x.ID, next, next2, later.Add(1), later.Add(time.Hour)); err != nil {
		t.Fatalf("Rotate with the installed refresh id: %v", err)
	}
	// Once it is replaced, the first call made again is reuse.
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, next, later, later.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Errorf("the first Rotate again after a later one: %v, want ErrRefreshReused", err)
	}
	wantDead(t, s, x.ID, later.Add(1))

	// A call that installs the same refresh id at another time or expiry
	// is not the same call: reuse.
	for name, change := range map[string]func(now, exp time.Time) (time.Time, time.Time){
		"now":    func(now, exp time.Time) (time.Time, time.Time) { return now.Add(1), exp },
		"expiry": func(now, exp time.Time) (time.Time, time.Time) { return now, exp.Add(1) },
	} {
		y := sess(t, "t", "alice", now, time.Hour)
		create(t, s, y)
		next := newID(t)
		if _, err := s.Rotate(ctx, y.ID, y.RefreshID, next, later, later.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		at, exp := change(later, later.Add(time.Hour))
		if _, err := s.Rotate(ctx, y.ID, y.RefreshID, next, at, exp); !errors.Is(err, session.ErrRefreshReused) {
			t.Errorf("the replaced refresh id with the same next id, another %s: %v, want ErrRefreshReused", name, err)
		}
		wantDead(t, s, y.ID, at)
	}
}

func testRotateUnknownOrExpired(t *testing.T, s session.Store) {
	now := base()
	if _, err := s.Rotate(ctx, newID(t), "r", "n", now, now.Add(time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Rotate of an unknown id: %v, want ErrNotFound", err)
	}
	x := sess(t, "t", "alice", now, time.Minute)
	create(t, s, x)
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, newID(t), x.ExpiresAt, x.ExpiresAt.Add(time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Rotate at ExpiresAt: %v, want ErrNotFound", err)
	}
	wantDead(t, s, x.ID, x.ExpiresAt)
}

// testRotateConcurrent is security.md 11: of concurrent refreshes with one
// token, exactly one gets a new pair; the rest are reuse, and the session
// ends revoked.
func testRotateConcurrent(t *testing.T, s session.Store) {
	const callers = 20
	now := base()
	x := sess(t, "t", "alice", now, time.Hour)
	create(t, s, x)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Rotate(ctx, x.ID, x.RefreshID, fmt.Sprintf("next-%d", i), now.Add(time.Second), now.Add(time.Hour))
		})
	}
	close(start)
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, session.ErrRefreshReused):
			reused++
		default:
			t.Errorf("concurrent Rotate: %v", err)
		}
	}
	if ok != 1 || reused != callers-1 {
		t.Errorf("%d concurrent Rotates: %d succeeded and %d were reuse, want 1 and %d", callers, ok, reused, callers-1)
	}
	wantDead(t, s, x.ID, now.Add(time.Second))
}

// mass sets up sessions for the mass revocation tests: alice and bob of
// tenant A, alice of tenant B.
type mass struct {
	aAlice1, aAlice2, aBob, bAlice session.Session
	expired, revoked               session.Session // of A's alice, not live at the revocation
}

func newMass(t *testing.T, s session.Store, now time.Time) mass {
	m := mass{
		aAlice1: sess(t, "A", "alice", now, time.Hour),
		aAlice2: sess(t, "A", "alice", now.Add(1), time.Hour),
		aBob:    sess(t, "A", "bob", now.Add(2), time.Hour),
		bAlice:  sess(t, "B", "alice", now.Add(3), time.Hour),
		expired: sess(t, "A", "alice", now.Add(4), 5*time.Minute),
		revoked: sess(t, "A", "alice", now.Add(5), time.Hour),
	}
	create(t, s, m.aAlice1, m.aAlice2, m.aBob, m.bAlice, m.expired, m.revoked)
	if err := s.Revoke(ctx, m.revoked.ID); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantGone asserts that a revoked session fails Check, Get, List and
// Rotate.
func wantGone(t *testing.T, s session.Store, x session.Session, now time.Time) {
	t.Helper()
	wantDead(t, s, x.ID, now)
	list, err := s.List(ctx, session.Filter{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids(list), x.ID) {
		t.Errorf("List shows revoked session %s", x.ID)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, newID(t), now, now.Add(time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Rotate of revoked session %s: %v, want ErrNotFound", x.ID, err)
	}
}

func testRevokeSubject(t *testing.T, s session.Store) {
	now := base()
	m := newMass(t, s, now)
	at := now.Add(10 * time.Minute)
	n, err := s.RevokeSubject(ctx, "A", "alice", at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("RevokeSubject(A, alice) = %d, want 2 (the expired and the revoked one do not count)", n)
	}
	wantGone(t, s, m.aAlice1, at)
	wantGone(t, s, m.aAlice2, at)
	// Tenant B's alice is another subject; A's bob is untouched.
	wantLive(t, s, m.bAlice.ID, at)
	wantLive(t, s, m.aBob.ID, at)
	wantList(t, s, session.Filter{}, at, m.aBob, m.bAlice)
	if n, err := s.RevokeSubject(ctx, "A", "alice", at); err != nil || n != 0 {
		t.Errorf("second RevokeSubject = %d, %v; want 0", n, err)
	}
	if n, err := s.RevokeSubject(ctx, "C", "nobody", at); err != nil || n != 0 {
		t.Errorf("RevokeSubject of an unknown subject = %d, %v; want 0", n, err)
	}
}

func testRevokeTenant(t *testing.T, s session.Store) {
	now := base()
	m := newMass(t, s, now)
	at := now.Add(10 * time.Minute)
	n, err := s.RevokeTenant(ctx, "A", at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("RevokeTenant(A) = %d, want 3", n)
	}
	wantGone(t, s, m.aAlice1, at)
	wantGone(t, s, m.aAlice2, at)
	wantGone(t, s, m.aBob, at)
	wantLive(t, s, m.bAlice.ID, at)
	wantList(t, s, session.Filter{}, at, m.bAlice)
	if n, err := s.RevokeTenant(ctx, "C", at); err != nil || n != 0 {
		t.Errorf("RevokeTenant of an unknown tenant = %d, %v; want 0", n, err)
	}
}

func testRevokeAll(t *testing.T, s session.Store) {
	now := base()
	m := newMass(t, s, now)
	at := now.Add(10 * time.Minute)
	n, err := s.RevokeAll(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("RevokeAll = %d, want 4", n)
	}
	for _, x := range []session.Session{m.aAlice1, m.aAlice2, m.aBob, m.bAlice} {
		wantGone(t, s, x, at)
	}
	wantList(t, s, session.Filter{}, at)
	if n, err := s.RevokeAll(ctx, at); err != nil || n != 0 {
		t.Errorf("second RevokeAll = %d, %v; want 0", n, err)
	}
}

// testRevocationInstant: an epoch compares with CreatedAt to the
// nanosecond. Sessions created before at are dead, at at or after live,
// whether they were recorded before or after the revocation call.
func testRevocationInstant(t *testing.T, s session.Store) {
	now := base()
	at := now.Add(time.Minute)
	scopes := []struct {
		name   string
		tenant string
		revoke func(at time.Time) (int, error)
	}{
		{"subject", "T1", func(at time.Time) (int, error) { return s.RevokeSubject(ctx, "T1", "alice", at) }},
		{"tenant", "T2", func(at time.Time) (int, error) { return s.RevokeTenant(ctx, "T2", at) }},
		{"all", "T3", func(at time.Time) (int, error) { return s.RevokeAll(ctx, at) }},
	}
	for _, sc := range scopes {
		t.Run(sc.name, func(t *testing.T) {
			before := sess(t, sc.tenant, "alice", at.Add(-time.Nanosecond), time.Hour)
			exact := sess(t, sc.tenant, "alice", at, time.Hour)
			after := sess(t, sc.tenant, "alice", at.Add(time.Nanosecond), time.Hour)
			create(t, s, before, exact, after)
			n, err := sc.revoke(at)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("revocation ended %d sessions, want 1", n)
			}
			check := at.Add(time.Second)
			wantDead(t, s, before.ID, check)
			wantLive(t, s, exact.ID, check)
			wantLive(t, s, after.ID, check)

			// Recorded after the call: the epoch still decides.
			lateBefore := sess(t, sc.tenant, "alice", at.Add(-time.Nanosecond), time.Hour)
			lateAfter := sess(t, sc.tenant, "alice", at.Add(2*time.Nanosecond), time.Hour)
			create(t, s, lateBefore, lateAfter)
			wantDead(t, s, lateBefore.ID, check)
			wantLive(t, s, lateAfter.ID, check)
			if _, err := s.Rotate(ctx, lateBefore.ID, lateBefore.RefreshID, newID(t), check, check.Add(time.Hour)); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Rotate of a session the epoch covers: %v, want ErrNotFound", err)
			}
			if _, err := s.Rotate(ctx, lateAfter.ID, lateAfter.RefreshID, newID(t), check, check.Add(time.Hour)); err != nil {
				t.Errorf("Rotate of a session after the epoch: %v", err)
			}
			list, err := s.List(ctx, session.Filter{Tenant: sc.tenant}, check)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ids(list), []string{exact.ID, after.ID, lateAfter.ID}; !slices.Equal(got, want) {
				t.Errorf("List = %v, want %v", got, want)
			}
		})
	}
}

func testEpochsOnlyRise(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "A", "alice", now, time.Hour)
	create(t, s, x)
	if _, err := s.RevokeTenant(ctx, "A", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An earlier instant later does not bring x back.
	if n, err := s.RevokeTenant(ctx, "A", now.Add(-time.Minute)); err != nil || n != 0 {
		t.Errorf("RevokeTenant at an earlier instant = %d, %v; want 0", n, err)
	}
	late := sess(t, "A", "alice", now.Add(30*time.Second), time.Hour)
	if err := s.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	wantDead(t, s, x.ID, now.Add(2*time.Minute))
	wantDead(t, s, late.ID, now.Add(2*time.Minute))
}

// testEmptyTenantAndSubject: the empty tenant and subject are values like
// any other (the Filter cannot select them, but revocation can).
func testEmptyTenantAndSubject(t *testing.T, s session.Store) {
	now := base()
	x := sess(t, "", "", now, time.Hour)
	x.Roles, x.Scopes, x.IP, x.UserAgent = nil, nil, "", ""
	y := sess(t, "", "", now, time.Hour)
	z := sess(t, "", "", now, time.Hour)
	other := sess(t, "T", "", now, time.Hour)
	create(t, s, x, y, z, other)
	got, err := s.Get(ctx, x.ID, now)
	wantSession(t, got, err, x)
	if err := s.Revoke(ctx, x.ID); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	wantDead(t, s, x.ID, now)
	if n, err := s.RevokeSubject(ctx, "", "", now.Add(1)); err != nil || n != 2 {
		t.Errorf("RevokeSubject(\"\", \"\") = %d, %v; want 2", n, err)
	}
	wantDead(t, s, y.ID, now)
	wantDead(t, s, z.ID, now)
	wantList(t, s, session.Filter{}, now, other)
}

func testPing(t *testing.T, s session.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testClose: Close succeeds. (newStore's cleanup may close again; every
// backend here makes Close idempotent.)
func testClose(t *testing.T, s session.Store) {
	create(t, s, sess(t, "t", "alice", base(), time.Hour))
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// testConcurrent has many goroutines create, check, rotate and revoke
// their own sessions while others revoke a shared subject; run it with
// -race.
func testConcurrent(t *testing.T, s session.Store) {
	const (
		workers = 8
		each    = 25
	)
	now := base()
	var wg sync.WaitGroup
	errc := make(chan error, workers*each*4)
	for w := range workers {
		wg.Go(func() {
			tenant := fmt.Sprintf("T%d", w%2)
			for i := range each {
				x := sess(t, tenant, fmt.Sprintf("user%d", i%3), now, time.Hour)
				if err := s.Create(ctx, x); err != nil {
					errc <- fmt.Errorf("Create: %w", err)
					continue
				}
				if err := s.Check(ctx, x.ID, now); err != nil {
					errc <- fmt.Errorf("Check of a new session: %w", err)
				}
				if _, err := s.Rotate(ctx, x.ID, x.RefreshID, newID(t), now, now.Add(time.Hour)); err != nil {
					errc <- fmt.Errorf("Rotate: %w", err)
				}
				switch i % 3 {
				case 0:
					if err := s.Revoke(ctx, x.ID); err != nil {
						errc <- fmt.Errorf("Revoke: %w", err)
					}
					if err := s.Check(ctx, x.ID, now); !errors.Is(err, session.ErrNotFound) {
						errc <- fmt.Errorf("Check after Revoke: %v", err)
					}
				case 1:
					if _, err := s.List(ctx, session.Filter{Tenant: tenant, Subject: "user1"}, now); err != nil {
						errc <- fmt.Errorf("List: %w", err)
					}
				}
			}
		})
	}
	// A shared session that everyone checks while a revoker ends its
	// subject: every Check sees nil before and ErrNotFound after.
	shared := sess(t, "S", "shared", now, time.Hour)
	create(t, s, shared)
	var revoked sync.WaitGroup
	revoked.Go(func() {
		if _, err := s.RevokeSubject(ctx, "S", "shared", now.Add(time.Second)); err != nil {
			errc <- fmt.Errorf("RevokeSubject: %w", err)
		}
	})
	for range 4 {
		wg.Go(func() {
			for range each {
				if err := s.Check(ctx, shared.ID, now); err != nil && !errors.Is(err, session.ErrNotFound) {
					errc <- fmt.Errorf("Check of the shared session: %w", err)
				}
			}
		})
	}
	wg.Wait()
	revoked.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	wantDead(t, s, shared.ID, now)
	// Per worker: each/3 (rounded up) revoked sessions of 25.
	list, err := s.List(ctx, session.Filter{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := workers * (each - (each+2)/3); len(list) != want {
		t.Errorf("List after the concurrent run has %d sessions, want %d", len(list), want)
	}
}
