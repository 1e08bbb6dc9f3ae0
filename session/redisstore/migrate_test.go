package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
)

// v1 is a schema-1 layout built for a migration test: sessions written by
// the store, then taken back to version 1 and damaged the way the store's
// two-step writes can leave it.
type v1 struct {
	now      time.Time
	sessions []session.Session
	// tombstone was revoked for refresh-token reuse (its hash stays);
	// revoked was revoked (its hash is gone).
	tombstone, revoked string
	tenants            []string
}

// Orphan index entries the layout gets: ids of no session.
var orphanEntries = []struct{ tenant, subject, id string }{
	{"acme", "", "orphan-1"},
	{"acme", "alice", "orphan-1"},
	{"t{1}:x", "", "orphan-2"},
	{"t{1}:x", "ghost{1}", "orphan-2"}, // a set that holds only orphans
	{"t{1}:x", "ghost{1}", "orphan-3"},
}

// orphanCount is how many index entries buildV1 leaves without a session:
// orphanEntries and the revoked session's two.
var orphanCount = len(orphanEntries) + 2

func newV1(t testing.TB, n int) *v1 {
	tenants := []string{"acme", "globex", "t{1}:x"}
	subjects := []string{"alice", "bob", "carol:1", "dave{x}"}
	// A sub-millisecond part, so that the scores' rounding matters.
	now := soon().Truncate(time.Millisecond).Add(123456)
	f := &v1{now: now, tenants: tenants}
	for i := range n {
		f.sessions = append(f.sessions, mk(t, tenants[i%len(tenants)], subjects[(i/3)%len(subjects)], now.Add(time.Duration(i)*time.Millisecond)))
	}
	f.tombstone, f.revoked = f.sessions[2].ID, f.sessions[3].ID
	return f
}

// live reports whether the fixture's session i is live (neither revoked).
func (f *v1) live(i int) bool {
	id := f.sessions[i].ID
	return id != f.tombstone && id != f.revoked
}

// write records the fixture's sessions under prefix with a store of the
// current code (schema 2), so the layout is complete. Deterministic: two
// prefixes written from one fixture hold the same data.
func (f *v1) write(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Helper()
	s := newStore(t, c, WithPrefix(prefix))
	for _, x := range f.sessions {
		if err := s.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	// One rotated (a later expiry, rescored in its index), one revoked
	// for reuse (a tombstone), one revoked (gone, and out of its index).
	x := f.sessions[1]
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, "next", f.now, f.now.Add(2*time.Hour+7)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, f.tombstone, "not-the-refresh-id", "next", f.now, f.now.Add(time.Hour)); !errors.Is(err, session.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if err := s.Revoke(ctx, f.revoked); err != nil {
		t.Fatal(err)
	}
}

// downgrade takes a complete layout back to schema 1 and damages its
// indexes: no sv, no marker, entries missing or misscored, a tenant missing
// from the tenants set, and orphan entries.
func (f *v1) downgrade(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Helper()
	k := keys{prefix}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Del(ctx, k.schema()).Err())
	for i, x := range f.sessions {
		must(c.HDel(ctx, k.session(x.ID), "sv").Err())
		if !f.live(i) {
			continue
		}
		ti, si := k.tenantIndex(x.Tenant), k.subjectIndex(x.Tenant, x.Subject)
		score, err := c.ZScore(ctx, ti, x.ID).Result()
		must(err)
		switch i % 6 {
		case 1:
			must(c.ZRem(ctx, ti, x.ID).Err())
		case 2:
			must(c.ZRem(ctx, si, x.ID).Err())
		case 3:
			must(c.ZRem(ctx, ti, x.ID).Err())
			must(c.ZRem(ctx, si, x.ID).Err())
		case 4: // a lagging score, as a failed index write after Rotate leaves
			must(c.ZAdd(ctx, ti, redis.Z{Score: score - 60000, Member: x.ID}).Err())
			must(c.ZAdd(ctx, si, redis.Z{Score: score - 60000, Member: x.ID}).Err())
		case 5:
			must(c.ZAdd(ctx, si, redis.Z{Score: score + 60000, Member: x.ID}).Err())
		}
	}
	must(c.ZRem(ctx, k.tenants(), "globex").Err())
	far := float64(f.now.Add(3 * time.Hour).UnixMilli())
	for _, o := range orphanEntries {
		key := k.tenantIndex(o.tenant)
		if o.subject != "" {
			key = k.subjectIndex(o.tenant, o.subject)
		}
		must(c.ZAdd(ctx, key, redis.Z{Score: far, Member: o.id}).Err())
	}
	// What a crash between Revoke's two steps leaves.
	gone := f.sessions[3]
	must(c.ZAdd(ctx, k.tenantIndex(gone.Tenant), redis.Z{Score: far, Member: gone.ID}).Err())
	must(c.ZAdd(ctx, k.subjectIndex(gone.Tenant, gone.Subject), redis.Z{Score: far, Member: gone.ID}).Err())
	if n, _ := c.HExists(ctx, k.session(f.sessions[0].ID), "sv").Result(); n {
		t.Fatal("downgrade left sv")
	}
}

// build writes the fixture under prefix, returns what a fresh store sees
// of it while complete, and downgrades it.
func (f *v1) build(t testing.TB, c redis.UniversalClient, prefix string) view {
	t.Helper()
	f.write(t, c, prefix)
	before := f.observe(t, c, prefix)
	f.downgrade(t, c, prefix)
	return before
}

// view is what the store's readers answer about every session, as text.
type view map[string]string

// observe reads every session through a fresh store (an empty mirror, so
// Check goes to Redis): Get, Check, and List by every filter.
func (f *v1) observe(t testing.TB, c redis.UniversalClient, prefix string) view {
	return f.observeSome(t, c, prefix, true)
}

// observeSome is observe, with List only if lists: List repairs the
// orphan entries it meets, which a test of the migration must leave to
// the migration.
func (f *v1) observeSome(t testing.TB, c redis.UniversalClient, prefix string, lists bool) view {
	t.Helper()
	s, err := New(ctx, c, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := view{}
	list := func(filter session.Filter) {
		if !lists {
			return
		}
		got, err := s.List(ctx, filter, f.now)
		ids := make([]string, len(got))
		for i, x := range got {
			ids[i] = x.ID
		}
		v[fmt.Sprintf("list %+v", filter)] = fmt.Sprint(ids, err)
	}
	list(session.Filter{})
	for _, x := range f.sessions {
		got, err := s.Get(ctx, x.ID, f.now)
		v["get "+x.ID] = fmt.Sprintf("%+v %v", got, err)
		v["check "+x.ID] = fmt.Sprint(s.Check(ctx, x.ID, f.now))
		list(session.Filter{Tenant: x.Tenant})
		list(session.Filter{Tenant: x.Tenant, Subject: x.Subject})
	}
	return v
}

// diff describes how two maps differ, or is "".
func diff(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			out = append(out, fmt.Sprintf("%s:\n\t%q\n\t%q", k, a[k], b[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: only in the second: %q", k, b[k]))
		}
	}
	return strings.Join(out, "\n")
}

// scanKeys lists the keys matching pattern, on every master of a cluster.
func scanKeys(t testing.TB, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("scanKeys: %T", c)
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dump is every key under prefix (but the epochs hash, whose boot marker
// is random, and the revocation log, whose entry ids are times) with its
// type, content and expiry, by name without prefix.
func dump(t testing.TB, c redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, key := range scanKeys(t, c, globEscape(prefix)+"*") {
		name := strings.TrimPrefix(key, prefix)
		if name == "epochs" || name == "revoked" {
			continue
		}
		typ := c.Type(ctx, key).Val()
		var content []string
		switch typ {
		case "hash":
			for f, v := range c.HGetAll(ctx, key).Val() {
				content = append(content, f+"="+v)
			}
			slices.Sort(content)
		case "zset":
			for _, z := range c.ZRangeWithScores(ctx, key, 0, -1).Val() {
				content = append(content, fmt.Sprintf("%v=%v", z.Member, int64(z.Score)))
			}
		case "string":
			content = []string{c.Get(ctx, key).Val()}
		default:
			t.Fatalf("unexpected %s key %s", typ, key)
		}
		out[name] = fmt.Sprintf("%s %v expires %v", typ, content, c.PExpireTime(ctx, key).Val())
	}
	return out
}

// verify checks a layout in schema 2: the marker, no cursor, sv on every
// hash, each live session in both its index sets scored by its expiry,
// exact set sizes, every tenant listed, and no orphans.
func (f *v1) verify(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Helper()
	k := keys{prefix}
	if v, err := c.Get(ctx, k.schema()).Result(); err != nil || v != "2" {
		t.Errorf("marker = %q, %v; want 2", v, err)
	}
	if n := c.Exists(ctx, k.migrationCursor()).Val(); n != 0 {
		t.Errorf("the cursor is still there: %q", c.Get(ctx, k.migrationCursor()).Val())
	}
	tenantCard, subjectCard := map[string]int64{}, map[[2]string]int64{}
	maxScore := map[string]float64{}
	for i, x := range f.sessions {
		key := k.session(x.ID)
		if x.ID == f.revoked {
			if c.Exists(ctx, key).Val() != 0 {
				t.Errorf("the revoked session came back")
			}
			for _, ix := range []string{k.tenantIndex(x.Tenant), k.subjectIndex(x.Tenant, x.Subject)} {
				if err := c.ZScore(ctx, ix, x.ID).Err(); !errors.Is(err, redis.Nil) {
					t.Errorf("the revoked session is still in %s", ix)
				}
			}
			continue
		}
		if sv := c.HGet(ctx, key, "sv").Val(); sv != "2" {
			t.Errorf("session %d: sv = %q", i, sv)
		}
		tenantCard[x.Tenant]++
		subjectCard[[2]string{x.Tenant, x.Subject}]++
		exp, err := strconv.ParseInt(c.HGet(ctx, key, "exp").Val(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		want := float64(ceilMillis(exp))
		if !f.live(i) {
			continue
		}
		maxScore[x.Tenant] = max(maxScore[x.Tenant], want)
		for _, ix := range []string{k.tenantIndex(x.Tenant), k.subjectIndex(x.Tenant, x.Subject)} {
			if got, err := c.ZScore(ctx, ix, x.ID).Result(); err != nil || got != want {
				t.Errorf("session %d in %s: score %v, %v; want %v", i, ix, got, err, want)
			}
			if at := c.PExpireTime(ctx, ix).Val(); at < time.Duration(want)*time.Millisecond {
				t.Errorf("%s expires at %v, before its member's %v", ix, at, want)
			}
		}
	}
	for tenant, n := range tenantCard {
		if got := c.ZCard(ctx, k.tenantIndex(tenant)).Val(); got != n {
			t.Errorf("ZCARD %s = %d, want %d", k.tenantIndex(tenant), got, n)
		}
		if got := c.ZScore(ctx, k.tenants(), tenant).Val(); got < maxScore[tenant] {
			t.Errorf("tenant %q scored %v in the tenants set, want at least %v", tenant, got, maxScore[tenant])
		}
	}
	for ts, n := range subjectCard {
		if got := c.ZCard(ctx, k.subjectIndex(ts[0], ts[1])).Val(); got != n {
			t.Errorf("ZCARD %s = %d, want %d", k.subjectIndex(ts[0], ts[1]), got, n)
		}
	}
	if n := c.Exists(ctx, k.subjectIndex("t{1}:x", "ghost{1}")).Val(); n != 0 {
		t.Error("the set of orphans only is still there")
	}
}

// migrate runs MigrateSchemaV2 through a store of its own.
func migrate(t testing.TB, c redis.UniversalClient, prefix string, ctx context.Context, batch int, progress func(MigrationProgress)) (MigrationResult, error) {
	t.Helper()
	s, err := New(context.Background(), c, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.MigrateSchemaV2(ctx, batch, progress)
}

func version(t testing.TB, c redis.UniversalClient, prefix string) int {
	t.Helper()
	s, err := New(ctx, c, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCreateWritesSchemaV2(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)))
	now := soon()
	x := mk(t, "A", "alice", now)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if sv := c.HGet(ctx, s.keys.session(x.ID), "sv").Val(); sv != "2" {
		t.Errorf("a new session's sv = %q, want 2", sv)
	}
	got, err := s.Rotate(ctx, x.ID, x.RefreshID, "next", now, now.Add(time.Hour))
	if err != nil || got.ID != x.ID {
		t.Fatalf("Rotate of a v2 session = %+v, %v", got, err)
	}
	if sv := c.HGet(ctx, s.keys.session(x.ID), "sv").Val(); sv != "2" {
		t.Errorf("sv after Rotate = %q, want 2", sv)
	}
	// New does not migrate: no marker until MigrateSchemaV2 runs.
	if v, err := s.SchemaVersion(ctx); v != 1 || err != nil {
		t.Errorf("SchemaVersion of a store never migrated = %d, %v; want 1", v, err)
	}
	if n := c.Exists(ctx, s.keys.schema()).Val(); n != 0 {
		t.Error("New or Create wrote the schema marker")
	}
}

func TestMigrateSchemaV2(t *testing.T) {
	c := client(t)
	prefix := testredis.Prefix(t)
	newStore(t, c, WithPrefix(prefix)) // for the clean-up of prefix
	f := newV1(t, 100)
	before := f.build(t, c, prefix)
	// Version 1 reads the same through Get and Check.
	v1view := f.observeSome(t, c, prefix, false)
	for k, v := range before {
		if !strings.HasPrefix(k, "list ") && v1view[k] != v {
			t.Errorf("%s of a v1 session: %s, was %s", k, v1view[k], v)
		}
	}
	if v := version(t, c, prefix); v != 1 {
		t.Fatalf("SchemaVersion before = %d, want 1", v)
	}

	var calls []MigrationProgress
	res, err := migrate(t, c, prefix, ctx, 10, func(p MigrationProgress) { calls = append(calls, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v in %d batches", res, len(calls))
	// Every session but the revoked one was stamped.
	// SCAN may return a key twice (when Redis resizes its table during
	// the walk), so Scanned is a lower bound.
	if res.Scanned < len(f.sessions)-1 {
		t.Errorf("scanned %d session hashes, want %d", res.Scanned, len(f.sessions)-1)
	}
	want := MigrationResult{Scanned: res.Scanned, Migrated: len(f.sessions) - 1, OrphansRemoved: orphanCount, Complete: true}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if len(calls) < 2 {
		t.Errorf("progress called %d times, want once a batch", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Scanned < calls[i-1].Scanned || calls[i].Migrated < calls[i-1].Migrated {
			t.Errorf("progress went back: %+v after %+v", calls[i], calls[i-1])
		}
	}
	if last := calls[len(calls)-1]; last.Phase != phaseIndexes || last.Scanned != res.Scanned || last.OrphansRemoved != res.OrphansRemoved {
		t.Errorf("last progress %+v, result %+v", last, res)
	}
	f.verify(t, c, prefix)
	if v := version(t, c, prefix); v != 2 {
		t.Errorf("SchemaVersion after = %d, want 2", v)
	}
	if d := diff(before, f.observe(t, c, prefix)); d != "" {
		t.Errorf("the stores' answers changed:\n%s", d)
	}

	// Again: nothing to do, nothing changes.
	state := dump(t, c, prefix)
	res, err = migrate(t, c, prefix, ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (MigrationResult{Scanned: res.Scanned, Complete: true}); res != want || res.Scanned < len(f.sessions)-1 {
		t.Errorf("second run: %+v, want %+v", res, want)
	}
	if d := diff(state, dump(t, c, prefix)); d != "" {
		t.Errorf("the second run changed Redis:\n%s", d)
	}
}

// killer is a go-redis hook that cancels a context once it has seen a
// number of pipelines of scripts: a process dying in the middle of a
// batch.
type killer struct {
	mu     sync.Mutex
	left   int
	cancel context.CancelFunc
}

func (k *killer) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (k *killer) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (k *killer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if !slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "evalsha" }) {
			return err // not the migration's: connection set-up
		}
		k.mu.Lock()
		if k.left--; k.left == 0 {
			k.cancel()
		}
		k.mu.Unlock()
		return err
	}
}

// TestMigrateSchemaV2Resume interrupts migrations at several points and
// resumes them; each ends in exactly the state of an uninterrupted run.
func TestMigrateSchemaV2Resume(t *testing.T) {
	c := client(t)
	f := newV1(t, 100)
	ref := testredis.Prefix(t)
	newStore(t, c, WithPrefix(ref))
	f.build(t, c, ref)
	if _, err := migrate(t, c, ref, ctx, 10, nil); err != nil {
		t.Fatal(err)
	}
	f.verify(t, c, ref)
	want := dump(t, c, ref)
	total := len(f.sessions) - 1

	for _, tc := range []struct {
		name string
		// stop is the progress callback of the first run, given its
		// cancel; kill instead cancels after that many pipelines.
		stop  func(cancel context.CancelFunc) func(MigrationProgress)
		kill  int
		phase string // of the cursor left behind
		exact bool   // the two runs' counts add up to one run's
	}{
		{name: "after the first batch", phase: phaseSessions, exact: true,
			stop: func(cancel context.CancelFunc) func(MigrationProgress) {
				return func(p MigrationProgress) {
					// Batches of other tests' keys only are empty for us.
					if p.Scanned > 0 {
						cancel()
					}
				}
			}},
		{name: "in the index walk", phase: phaseIndexes, exact: true,
			stop: func(cancel context.CancelFunc) func(MigrationProgress) {
				return func(p MigrationProgress) {
					if p.Phase == phaseIndexes {
						cancel()
					}
				}
			}},
		// Pipelines: a batch's stamps, then its index repairs. Dying
		// after the third leaves the second batch stamped, unindexed,
		// and not recorded in the cursor.
		{name: "in the middle of a batch", kill: 3, phase: phaseSessions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testredis.Prefix(t)
			newStore(t, c, WithPrefix(prefix))
			before := f.build(t, c, prefix)
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			mc := redis.UniversalClient(c)
			var progress func(MigrationProgress)
			if tc.kill > 0 {
				hooked := redis.NewClient(&redis.Options{Addr: testredis.Addr(t)})
				defer hooked.Close()
				hooked.AddHook(&killer{left: tc.kill, cancel: cancel})
				mc = hooked
			} else {
				progress = tc.stop(cancel)
			}
			first, err := migrate(t, mc, prefix, rctx, 10, progress)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %+v, %v; want context.Canceled", first, err)
			}
			t.Logf("interrupted: %+v", first)
			if first.Complete || first.Resumed {
				t.Errorf("interrupted run: %+v", first)
			}
			cur, err := c.Get(ctx, keys{prefix}.migrationCursor()).Result()
			if err != nil || !strings.HasPrefix(cur, tc.phase+":") {
				t.Fatalf("cursor = %q, %v; want one in phase %s", cur, err, tc.phase)
			}
			if v := version(t, c, prefix); v != 1 {
				t.Errorf("SchemaVersion of an unfinished migration = %d, want 1", v)
			}
			if tc.phase == phaseSessions && (first.Migrated == 0 || first.Migrated >= total) {
				t.Errorf("the interrupted run migrated %d of %d sessions; the test wants part of them", first.Migrated, total)
			}

			second, err := migrate(t, c, prefix, ctx, 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("resumed: %+v", second)
			if !second.Resumed || !second.Complete {
				t.Errorf("resumed run: %+v, want Resumed and Complete", second)
			}
			if tc.exact {
				if n := first.Migrated + second.Migrated; n != total {
					t.Errorf("migrated %d + %d sessions, want %d in all", first.Migrated, second.Migrated, total)
				}
				if n := first.OrphansRemoved + second.OrphansRemoved; n != orphanCount {
					t.Errorf("removed %d + %d orphans, want %d in all", first.OrphansRemoved, second.OrphansRemoved, orphanCount)
				}
			}
			if tc.phase == phaseIndexes && (second.Scanned != 0 || second.Migrated != 0) {
				t.Errorf("resumed in the index walk, the run walked the sessions again: %+v", second)
			}
			f.verify(t, c, prefix)
			if d := diff(want, dump(t, c, prefix)); d != "" {
				t.Errorf("an interrupted and resumed migration differs from an uninterrupted one:\n%s", d)
			}
			if d := diff(before, f.observe(t, c, prefix)); d != "" {
				t.Errorf("the stores' answers changed:\n%s", d)
			}
			// Finished: a third call starts over, and finds nothing to do.
			third, err := migrate(t, c, prefix, ctx, 10, nil)
			if err != nil || third.Resumed || !third.Complete || third.Migrated != 0 || third.OrphansRemoved != 0 {
				t.Errorf("third run: %+v, %v", third, err)
			}
		})
	}
}

func TestMigrateSchemaV2Edges(t *testing.T) {
	c := client(t)
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)))

	// An empty store migrates to a marker.
	res, err := s.MigrateSchemaV2(ctx, 0, nil)
	if err != nil || res != (MigrationResult{Complete: true}) {
		t.Errorf("empty store: %+v, %v", res, err)
	}
	if v, err := s.SchemaVersion(ctx); v != 2 || err != nil {
		t.Errorf("SchemaVersion = %d, %v; want 2", v, err)
	}

	// A garbled cursor is dropped: the walk starts over.
	c.Set(ctx, s.keys.migrationCursor(), "nonsense", 0)
	if res, err := s.MigrateSchemaV2(ctx, 10, nil); err != nil || res.Resumed || !res.Complete {
		t.Errorf("with a garbled cursor: %+v, %v", res, err)
	}

	// A newer layout is not this code's to touch.
	c.Set(ctx, s.keys.schema(), "3", 0)
	if _, err := s.MigrateSchemaV2(ctx, 10, nil); err == nil {
		t.Error("migrated a store at schema 3")
	}
	c.Set(ctx, s.keys.schema(), "x", 0)
	if _, err := s.SchemaVersion(ctx); err == nil {
		t.Error("SchemaVersion accepted a malformed marker")
	}

	// A cancelled context does nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.MigrateSchemaV2(cctx, 10, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v", err)
	}
}

func TestPositionAndKeyParsing(t *testing.T) {
	for _, p := range []position{
		{phaseSessions, "", 0}, {phaseIndexes, "", 1 << 63}, {phaseSessions, "10.0.0.1:7000", 42},
	} {
		if got, ok := parsePosition(p.String()); !ok || got != p {
			t.Errorf("parsePosition(%q) = %+v, %v", p.String(), got, ok)
		}
	}
	for _, v := range []string{"", "sessions", "sessions:", "other:1", "indexes:x", "sessions:-1"} {
		if _, ok := parsePosition(v); ok {
			t.Errorf("parsePosition(%q) accepted", v)
		}
	}
	k := keys{"p:"}
	for _, id := range []string{"abc", "a{b}:c%", ""} {
		if got, ok := k.parseSession(k.session(id)); !ok || got != id {
			t.Errorf("parseSession(session(%q)) = %q, %v", id, got, ok)
		}
	}
	for _, key := range []string{"p:s:{a}x", "p:s:{a{b}", "q:s:{a}", "p:s:{a%7}", "p:t:{a}:all"} {
		if _, ok := k.parseSession(key); ok {
			t.Errorf("parseSession(%q) accepted", key)
		}
	}
	for _, key := range []string{k.tenantIndex("t{1}:x"), k.subjectIndex("t", "s:{x}"), k.subjectIndex("t", "")} {
		if !k.isIndex(key) {
			t.Errorf("isIndex(%q) = false", key)
		}
	}
	for _, key := range []string{"p:t:{a}", "p:t:{a}:none", "p:s:{a}", "p:t:{a}:u:b}c", "p:tenants"} {
		if k.isIndex(key) {
			t.Errorf("isIndex(%q) = true", key)
		}
	}
	if got := globEscape(`a*b?[c]\-^`); got != `a\*b\?\[c\]\\\-\^` {
		t.Errorf("globEscape = %q", got)
	}
}

// TestMigrateSchemaV2Cluster runs the migration, interrupted and resumed,
// on a Redis Cluster whose seed addresses RELAY_TEST_REDIS_CLUSTER names
// (comma-separated); it skips without one.
func TestMigrateSchemaV2Cluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testredis.Cluster(t)})
	prefix := testredis.Prefix(t)
	t.Cleanup(func() {
		for _, key := range scanKeys(t, c, globEscape(prefix)+"*") {
			c.Del(ctx, key)
		}
		c.Close()
	})
	f := newV1(t, 100)
	before := f.build(t, c, prefix)
	rctx, cancel := context.WithCancel(ctx)
	first, err := migrate(t, c, prefix, rctx, 10, func(p MigrationProgress) {
		if p.Scanned > 0 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) || first.Complete {
		t.Fatalf("interrupted run: %+v, %v", first, err)
	}
	cur := c.Get(ctx, keys{prefix}.migrationCursor()).Val()
	t.Logf("interrupted: %+v at %q", first, cur)
	if !strings.Contains(cur, "@") {
		t.Errorf("cursor %q does not name a node", cur)
	}
	second, err := migrate(t, c, prefix, ctx, 10, nil)
	if err != nil || !second.Resumed || !second.Complete {
		t.Fatalf("resumed run: %+v, %v", second, err)
	}
	if n := first.Migrated + second.Migrated; n != len(f.sessions)-1 {
		t.Errorf("migrated %d + %d", first.Migrated, second.Migrated)
	}
	if n := first.OrphansRemoved + second.OrphansRemoved; n != orphanCount {
		t.Errorf("removed %d + %d orphans, want %d", first.OrphansRemoved, second.OrphansRemoved, orphanCount)
	}
	f.verify(t, c, prefix)
	if d := diff(before, f.observe(t, c, prefix)); d != "" {
		t.Errorf("the stores' answers changed:\n%s", d)
	}
}
