package table

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func rec(tenant, subject string, created, expires int64) Record[struct{}] {
	return Record[struct{}]{Tenant: tenant, Subject: subject, Created: created, Expires: expires}
}

func TestStatus(t *testing.T) {
	tb := New[struct{}]()
	tb.Insert("live", rec("A", "alice", 10, 100))
	tb.Insert("tomb", Record[struct{}]{Tenant: "A", Subject: "alice", Created: 10, Expires: 100, Revoked: true})
	tb.Insert("old", rec("A", "bob", 5, 100))
	tb.Raise(Subject("A", "bob"), 6)
	for _, tc := range []struct {
		id   string
		now  int64
		want Status
	}{
		{"live", 99, Live},
		{"tomb", 50, Revoked},
		{"old", 50, Covered},
		{"nope", 50, Missing},
		{"live", 100, Expired},
		{"live", 100, Missing}, // evicted by the previous lookup
	} {
		if got := tb.Status(tc.id, tc.now); got != tc.want {
			t.Errorf("Status(%s, %d) = %v, want %v", tc.id, tc.now, got, tc.want)
		}
	}
}

func TestEpochScopes(t *testing.T) {
	tb := New[struct{}]()
	tb.Insert("a-alice", rec("A", "alice", 10, 100))
	tb.Insert("b-alice", rec("B", "alice", 10, 100))
	tb.Insert("a-bob", rec("A", "bob", 10, 100))
	if n := tb.Revoke(Subject("A", "alice"), 11); n != 1 {
		t.Errorf("Revoke(A/alice) = %d, want 1", n)
	}
	if tb.Status("b-alice", 50) != Live || tb.Status("a-bob", 50) != Live {
		t.Error("subject revocation reached another tenant's or subject's session")
	}
	// An owner created after a tenant raise inherits the tenant's epoch.
	tb.Raise(Tenant("A"), 20)
	tb.Insert("a-carol", rec("A", "carol", 15, 100))
	tb.Insert("a-dave", rec("A", "dave", 20, 100))
	if tb.Status("a-carol", 50) != Covered || tb.Status("a-dave", 50) != Live || tb.Status("a-bob", 50) != Covered {
		t.Error("tenant epoch does not cover the tenant's sessions exactly")
	}
	if f := tb.Floor("A", "alice"); f != 20 {
		t.Errorf("Floor(A, alice) = %d, want 20", f)
	}
	if f := tb.FloorBefore(Tenant("A"), 3, "A", "alice"); f != 11 {
		t.Errorf("FloorBefore(tenant A from 3) for alice = %d, want her own 11", f)
	}
	// Epochs never fall.
	if old := tb.Raise(Tenant("A"), 5); old != 20 || tb.Floor("A", "x") != 20 {
		t.Errorf("a lower raise moved the epoch: old %d, floor %d", old, tb.Floor("A", "x"))
	}
}

func TestRevokeCountsLiveAtInstant(t *testing.T) {
	for _, counting := range []bool{false, true} {
		t.Run(fmt.Sprint("counting=", counting), func(t *testing.T) { testRevokeCountsLiveAtInstant(t, counting) })
	}
}

func testRevokeCountsLiveAtInstant(t *testing.T, counting bool) {
	tb := New[struct{}]()
	if counting {
		tb = NewCounting[struct{}]()
	}
	tb.Insert("live", rec("A", "alice", 10, 100))
	tb.Insert("expired", rec("A", "alice", 10, 30))
	tb.Insert("tomb", Record[struct{}]{Tenant: "A", Subject: "alice", Created: 10, Expires: 100, Revoked: true})
	tb.Insert("after", rec("A", "alice", 40, 100))
	tb.Insert("exact", rec("A", "alice", 39, 100))
	if n := tb.Revoke(All(), 39); n != 1 {
		t.Errorf("Revoke(all, 39) = %d, want 1", n)
	}
	// Revoke removes nothing; Sweep removes what it covered.
	if tb.Len() != 5 {
		t.Errorf("Len after revoke = %d, want 5", tb.Len())
	}
	if n := tb.Sweep(39); n != 3 || tb.Len() != 2 {
		t.Errorf("Sweep after revoke removed %d, left %d; want 3 and 2 (exact and after)", n, tb.Len())
	}
	// Covered already by the global epoch: a tenant revocation counts
	// nothing new.
	tb.Insert("late", rec("A", "bob", 20, 100))
	if n := tb.Revoke(Tenant("A"), 39); n != 0 {
		t.Errorf("Revoke(tenant) of sessions the global epoch covered = %d, want 0", n)
	}
}

func TestPutGuardAndTombstone(t *testing.T) {
	tb := New[struct{}]()
	if tb.Put("x", rec("A", "a", 1, 100), func() bool { return false }) {
		t.Error("Put wrote although its guard said no")
	}
	tb.Put("x", rec("A", "a", 1, 100), nil)
	tb.Modify("x", 0, func(e *Entry[struct{}], st Status) bool { e.Revoked = true; return false })
	if tb.Put("x", rec("A", "a", 1, 200), nil) || tb.Status("x", 50) != Revoked {
		t.Error("Put brought a tombstone back to life")
	}
}

func TestInsertCollision(t *testing.T) {
	tb := New[struct{}]()
	if !tb.Insert("x", rec("A", "a", 1, 100)) || tb.Insert("x", rec("B", "b", 99, 200)) {
		t.Error("Insert over an unexpired entry succeeded")
	}
	if !tb.Insert("x", rec("B", "b", 100, 200)) {
		t.Error("Insert over an entry expired by the new CreatedAt failed")
	}
}

func TestPruneForgetsUnusedOwners(t *testing.T) {
	tb := New[struct{}]()
	for i := range 100 {
		tb.Insert(fmt.Sprint(i), rec(fmt.Sprint("T", i%3), fmt.Sprint("u", i), 1, 10))
	}
	tb.Raise(Subject("T0", "keep"), 5) // an epoch that matters: kept
	tb.Raise(Tenant("T1"), 5)
	tb.Raise(Subject("T1", "subsumed"), 4) // below its tenant's epoch: dropped
	if n := tb.Sweep(10); n != 100 {
		t.Fatalf("Sweep removed %d, want 100", n)
	}
	if owners, tenants := tb.Scopes(); owners != 1 || tenants != 2 {
		t.Errorf("after Sweep %d owners and %d tenants remain, want 1 (T0/keep) and 2 (T0, T1)", owners, tenants)
	}
	if tb.Floor("T0", "keep") != 5 || tb.Floor("T1", "x") != 5 {
		t.Error("pruning lost an epoch")
	}
}

// TestConcurrentRevokeAndInsert: a session inserted while its subject is
// revoked is either removed or covered; never live.
func TestConcurrentRevokeAndInsert(t *testing.T) {
	for range 50 {
		tb := New[struct{}]()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() { tb.Insert(fmt.Sprint(i), rec("A", "alice", 1, 100)) })
		}
		wg.Go(func() { tb.Revoke(Subject("A", "alice"), 2) })
		wg.Go(func() { tb.Sweep(0) })
		wg.Wait()
		for i := range 20 {
			if st := tb.Status(fmt.Sprint(i), 50); st == Live {
				t.Fatalf("session %d is live after its subject was revoked", i)
			}
		}
	}
}

func TestStatusAllocatesNothing(t *testing.T) {
	tb := New[struct{}]()
	tb.Insert("x", rec("A", "alice", 10, 100))
	if n := testing.AllocsPerRun(100, func() { tb.Status("x", 50); tb.Status("y", 50) }); n != 0 {
		t.Errorf("Status allocates %v times", n)
	}
}

// BenchmarkBytesPerEntry reports the heap per entry of the Redis store's
// mirror (no payload) for 100k sessions, each of its own subject (the
// worst case) and five per subject.
func BenchmarkBytesPerEntry(b *testing.B) {
	for _, per := range []int{1, 5} {
		b.Run(fmt.Sprintf("sessionsPerSubject=%d", per), func(b *testing.B) {
			const n = 100_000
			ids := make([]string, n)
			subjects := make([]string, n)
			tenants := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("%022x", uint64(i)*0x9e3779b97f4a7c15) // 22 chars, like a base64 128-bit id
				subjects[i] = fmt.Sprintf("user-%08d@example.com", i/per)
				tenants[i] = fmt.Sprint("tenant-", (i/per)%100)
			}
			var perEntry float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tb := New[struct{}]()
				for i, id := range ids {
					tb.Insert(id, rec(tenants[i], subjects[i], 1, 100))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				// The inputs were in the first reading: keep them in the
				// second, so only the table is counted.
				runtime.KeepAlive(tb)
				runtime.KeepAlive(ids)
				runtime.KeepAlive(subjects)
				runtime.KeepAlive(tenants)
				perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
			}
			b.ReportMetric(perEntry, "bytes/session")
		})
	}
}

// TestCountingMatchesScan drives a counting table and a plain one with the
// same random operations, including revocations at instants that go back
// and sessions created after them, and checks that every Revoke returns
// the same count: the counters (fast path or recount) agree with a scan.
func TestCountingMatchesScan(t *testing.T) {
	for seed := range 200 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		fast, slow := NewCounting[struct{}](), New[struct{}]()
		tenants := []string{"A", "B", "C"}
		subjects := []string{"x", "y", "z", "w"}
		var ids []string
		clock := int64(1000)
		for step := range 300 {
			clock += int64(r.IntN(20))
			switch op := r.IntN(100); {
			case op < 45: // create, sometimes a little in the future or the past
				id := fmt.Sprint("s", step)
				if r.IntN(3) == 0 {
					id = fmt.Sprintf("%022d", step) // canonical base64url
				}
				created := clock + int64(r.IntN(30)) - 15
				rc := rec(tenants[r.IntN(3)], subjects[r.IntN(4)], created, created+int64(r.IntN(200)))
				if a, b := fast.Insert(id, rc), slow.Insert(id, rc); a != b {
					t.Fatalf("seed %d: Insert disagrees", seed)
				}
				ids = append(ids, id)
			case op < 55 && len(ids) > 0: // revoke one, or change its expiry (Rotate)
				id := ids[r.IntN(len(ids))]
				revoke, exp := r.IntN(2) == 0, clock+int64(r.IntN(200))-50
				for _, tb := range []*Table[struct{}]{fast, slow} {
					tb.Modify(id, clock, func(e *Entry[struct{}], st Status) bool {
						if st != Live {
							return st == Expired
						}
						if revoke {
							e.Revoked = true
						} else {
							e.Expires = exp
						}
						return false
					})
				}
			case op < 62 && len(ids) > 0: // remove one
				id := ids[r.IntN(len(ids))]
				for _, tb := range []*Table[struct{}]{fast, slow} {
					tb.Modify(id, clock, func(e *Entry[struct{}], st Status) bool { return true })
				}
			case op < 66:
				fast.Sweep(clock)
				slow.Sweep(clock)
			case op < 70 && len(ids) > 0:
				id := ids[r.IntN(len(ids))]
				if a, b := fast.Status(id, clock), slow.Status(id, clock); a != b {
					t.Fatalf("seed %d: Status disagrees: %v, %v", seed, a, b)
				}
			default: // a mass revocation, now or a little back
				at := clock
				if r.IntN(5) == 0 {
					at -= int64(r.IntN(40))
				}
				var sc Scope
				switch r.IntN(3) {
				case 0:
					sc = All()
				case 1:
					sc = Tenant(tenants[r.IntN(3)])
				default:
					sc = Subject(tenants[r.IntN(3)], subjects[r.IntN(4)])
				}
				if a, b := fast.Revoke(sc, at), slow.Revoke(sc, at); a != b {
					t.Fatalf("seed %d step %d: Revoke(%+v, %d) = %d on the counting table, %d by scan", seed, step, sc, at, a, b)
				}
			}
		}
		if all, _, _ := fast.Live("", ""); all < 0 {
			t.Fatalf("seed %d: negative live counter %d", seed, all)
		}
	}
}

func TestRevokeTouchesNoEntry(t *testing.T) {
	tb := NewCounting[struct{}]()
	for i := range 1000 {
		tb.Insert(fmt.Sprint(i), rec("A", fmt.Sprint("u", i%10), 10, 100))
	}
	tb.Insert("b", rec("B", "u", 10, 100))
	if n := tb.Revoke(Subject("A", "u3"), 20); n != 100 {
		t.Errorf("Revoke(subject) = %d, want 100", n)
	}
	if n := tb.Revoke(Tenant("A"), 20); n != 900 {
		t.Errorf("Revoke(tenant) = %d, want 900", n)
	}
	if all, a, u := tb.Live("A", "u4"); all != 1 || a != 0 || u != 0 {
		t.Errorf("counters after revocations: all %d, A %d, A/u4 %d; want 1, 0, 0", all, a, u)
	}
	// A session recorded later counts again, in its (zeroed) scopes.
	tb.Insert("late", rec("A", "u4", 30, 100))
	if all, a, u := tb.Live("A", "u4"); all != 2 || a != 1 || u != 1 {
		t.Errorf("counters after a late session: all %d, A %d, A/u4 %d; want 2, 1, 1", all, a, u)
	}
	if n := tb.Revoke(All(), 40); n != 2 {
		t.Errorf("Revoke(all) = %d, want 2", n)
	}
	if tb.Len() != 1002 {
		t.Errorf("Len = %d: revocation removed entries", tb.Len())
	}
}

func TestParseMatchesBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strict := base64.RawURLEncoding.Strict()
	try := func(id string) {
		var want [16]byte
		wantOK := false
		if len(id) == 22 {
			n, err := strict.Decode(want[:], []byte(id))
			wantOK = err == nil && n == 16
		}
		k := parse(id)
		if k.canon != wantOK || (wantOK && k.k != want) {
			t.Fatalf("parse(%q) = %x, %v; encoding/base64 says %x, %v", id, k.k, k.canon, want, wantOK)
		}
	}
	for range 10000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		id := base64.RawURLEncoding.EncodeToString(b[:])
		try(id)
		// One character changed to anything: canonical or not, parse and
		// encoding/base64 agree.
		mut := []byte(id)
		mut[r.IntN(22)] = byte(r.Uint32())
		try(string(mut))
	}
	for _, id := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAA\nA", "AAAAAAAAAAAAAAAAAAAAAAA"} {
		try(id)
	}
}

// TestForgetKeepsCounts: Forget drops old epochs of owners without
// entries and keeps those of owners with entries, and the live counters
// still agree with a visit of every entry afterwards.
func TestForgetKeepsCounts(t *testing.T) {
	tb := NewCounting[struct{}]()
	tb.Revoke(Subject("A", "gone"), 10)
	tb.Revoke(Subject("A", "back"), 10)
	tb.Revoke(Tenant("B"), 10)
	tb.Insert("s1", Record[struct{}]{Tenant: "A", Subject: "back", Created: 20, Expires: 1000})
	tb.Insert("old", Record[struct{}]{Tenant: "A", Subject: "gone", Created: 5, Expires: 50})
	for _, tc := range []struct {
		now, before     int64
		owners, tenants int
	}{
		{60, 10, 2, 2}, // nothing before 10
		{60, 11, 1, 1}, // gone (its entry swept) and B go; back keeps its entry's owner
	} {
		tb.Forget(tc.now, tc.before)
		if owners, tenants := tb.Scopes(); owners != tc.owners || tenants != tc.tenants {
			t.Errorf("Forget(%d, %d): %d owners and %d tenants, want %d and %d", tc.now, tc.before, owners, tenants, tc.owners, tc.tenants)
		}
	}
	if tb.Status("s1", 60) != Live {
		t.Error("the session made after the epoch is no longer live")
	}
	if n := tb.Revoke(Tenant("A"), 100); n != 1 {
		t.Errorf("Revoke(tenant A) after Forget = %d, want 1", n)
	}
}
