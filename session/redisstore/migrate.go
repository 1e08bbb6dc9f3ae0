package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Schema versions of the Redis layout.
//
// Version 1 is the layout before any marker: session hashes without sv,
// and index sets that the store's two-step writes may have left
// incomplete (an entry missing, or a lagging score) or stale (an entry
// whose session is gone).
//
// Version 2 adds:
//
//   - P schema, a string: the layout version, "2";
//   - the field sv = "2" in every session hash (Create writes it);
//   - the guarantee, established by MigrateSchemaV2, that every live
//     session is in its tenant's and its subject's index set scored by its
//     expiry (ceilMillis(exp), as Create scores it), that its tenant is in
//     P tenants with a score at least that, and that no index entry names a
//     session hash that is gone.
//
// The reading code accepts both versions: nothing reads sv or the marker
// but SchemaVersion and the migration. New never migrates.
const (
	schemaV1      = 1
	schemaV2      = 2
	sessionSchema = "2" // the sv field Create writes
)

// MigrationProgress is reported after each batch of MigrateSchemaV2.
// Counts are those of this call so far.
type MigrationProgress struct {
	// Scanned counts session hashes visited, Migrated those that had to
	// change (stamped with sv, or index entries added or rescored).
	Scanned, Migrated int
	// Phase is "sessions" during the walk of the session hashes, then
	// "indexes" during the walk of the index sets.
	Phase string
	// OrphansRemoved counts index entries removed because their session
	// hash is gone.
	OrphansRemoved int
}

// MigrationResult is what one call of MigrateSchemaV2 did. Its counts are
// those of this call only: a resumed run does not count the work of the
// run it resumes.
type MigrationResult struct {
	Scanned, Migrated, OrphansRemoved int
	// Resumed says the call continued from a cursor that an interrupted
	// run left in Redis.
	Resumed bool
	// Complete says the walk finished: the schema marker is 2 and the
	// cursor is gone.
	Complete bool
}

// Phases of the migration, as recorded in the cursor.
const (
	phaseSessions = "sessions"
	phaseIndexes  = "indexes"
)

// DefaultMigrationBatch is the SCAN COUNT used when MigrateSchemaV2 is
// given a batch size of 0 or less.
const DefaultMigrationBatch = 500

// SchemaVersion reports the layout version recorded in Redis (1 when no
// marker exists).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := s.rdb.Get(ctx, s.keys.schema()).Result()
	if errors.Is(err, redis.Nil) {
		return schemaV1, nil
	}
	if err != nil {
		return 0, unavailable(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("redisstore: malformed schema marker %s = %q", s.keys.schema(), v)
	}
	return n, nil
}

// stampScript is the session half of the upgrade, on the session's own
// slot: stamp sv, and report what the index half needs. HSET keeps the
// key's expiry. A hash with a newer sv is left alone.
//
//	KEYS[1] session; ARGV[1] the version to stamp
//	returns {-1} when the key is not a session hash (gone, or no exp);
//	else {stamped (1 or 0), exp ns, tenant, subject, rvk}
var stampScript = redis.NewScript(`
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {-1} end
local h = redis.call('HMGET', KEYS[1], 'sv', 'exp', 'ten', 'sub', 'rvk')
if not h[2] then return {-1} end
local stamped = 0
if not h[1] or (tonumber(h[1]) or 0) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'sv', ARGV[1])
  stamped = 1
end
return {stamped, h[2], h[3] or '', h[4] or '', h[5] or ''}
`)

// repairScript is the index half, on the tenant's slot: put the session in
// both index sets with exactly its expiry as score, and keep each set's
// own expiry at least that (as indexScript does), so that a set does not
// expire before a member it was given. Idempotent.
//
//	KEYS[1] tenant index; KEYS[2] subject index; ARGV[1] score (expiry ms); ARGV[2] id
//	returns how many of the two sets had to change
var repairScript = redis.NewScript(`
local score = tonumber(ARGV[1])
local changed = 0
for i = 1, 2 do
  local c = 0
  local cur = redis.call('ZSCORE', KEYS[i], ARGV[2])
  if not cur or tonumber(cur) ~= score then
    redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
    c = 1
  end
  local at = redis.call('PEXPIRETIME', KEYS[i])
  if at == -1 or (at >= 0 and at < score) then
    redis.call('PEXPIREAT', KEYS[i], ARGV[1])
    c = 1
  end
  changed = changed + c
end
return changed
`)

// orphanScript removes index entries whose session hash was seen gone, on
// the index's slot. It removes an entry only if its score is still the one
// seen, so that an id that a new session took meanwhile (a new session has
// a new expiry) keeps its entry.
//
//	KEYS[1] index; ARGV id, score, id, score...
//	returns how many entries it removed
var orphanScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 2 do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if cur and tonumber(cur) == tonumber(ARGV[i + 1]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
`)

// migration is one run of MigrateSchemaV2.
type migration struct {
	s        *Store
	size     int
	progress func(MigrationProgress)
	res      MigrationResult
}

// position is where a walk stands: the phase, the node being scanned (""
// on a single-keyspace client) and the SCAN cursor on it. Stored in the
// cursor key as "phase:cursor" or "phase:cursor@node".
type position struct {
	phase  string
	node   string
	cursor uint64
}

func (p position) String() string {
	v := p.phase + ":" + strconv.FormatUint(p.cursor, 10)
	if p.node != "" {
		v += "@" + p.node
	}
	return v
}

func parsePosition(v string) (position, bool) {
	phase, rest, ok := strings.Cut(v, ":")
	if !ok || (phase != phaseSessions && phase != phaseIndexes) {
		return position{}, false
	}
	cur, node, _ := strings.Cut(rest, "@")
	n, err := strconv.ParseUint(cur, 10, 64)
	if err != nil {
		return position{}, false
	}
	return position{phase, node, n}, true
}

// scanNode is one keyspace to SCAN: the client itself, or one master of a
// cluster (one shard of a ring).
type scanNode struct {
	name string
	c    redis.Cmdable
}

// scanNodes lists the keyspaces to walk, in a stable order so that a
// stored position names the same place on the next run.
func (s *Store) scanNodes(ctx context.Context) ([]scanNode, error) {
	var (
		mu    sync.Mutex
		nodes []scanNode
	)
	collect := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, scanNode{c.Options().Addr, c})
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, collect)
	case *redis.Ring:
		err = c.ForEachShard(ctx, collect)
	default:
		return []scanNode{{"", s.rdb}}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no master to scan")
	}
	slices.SortFunc(nodes, func(a, b scanNode) int { return cmp.Compare(a.name, b.name) })
	return nodes, nil
}

// MigrateSchemaV2 brings the stored sessions to schema 2 (see schemaV2).
//
// It walks the session hashes with SCAN, batchSize keys per step (SCAN's
// COUNT; DefaultMigrationBatch when batchSize <= 0). For each batch it
// stamps every hash with sv (one script per key, on the key's slot), then
// repairs the live sessions' index entries (one script per session on the
// tenant's slot, and ZADD GT on the tenants set). Each step is idempotent,
// so a batch may be redone. After each batch it stores its position in
// P migration:schema-v2:cursor and then calls progress, if not nil.
//
// It then walks the index sets the same way and removes the entries whose
// session hash is gone, and finally sets P schema to 2 and deletes the
// cursor.
//
// A run that stops at any point (ctx cancelled, process killed, Redis
// error) leaves the cursor of its last finished batch; the next call
// resumes there and reports Resumed. A call with no cursor walks
// everything again: on a migrated store it changes nothing and reports 0
// migrated, and it catches sessions that an older instance wrote after
// the marker was set. Concurrent runs are safe, only redundant.
//
// Run it once every instance runs code that writes schema 2: SCAN visits
// each key that exists throughout the walk, but a session that an older
// instance creates during the walk may be missed (run again after the
// upgrade to catch it). On Redis Cluster every master is walked in turn;
// keys moved by resharding during a walk may be missed, so run it again
// after a resharding. A store whose marker is newer than 2 is refused.
//
// The error is ctx's error when ctx ended, and wraps
// session.ErrUnavailable on a Redis failure. The result counts what this
// call did, also on error.
func (s *Store) MigrateSchemaV2(ctx context.Context, batchSize int, progress func(MigrationProgress)) (MigrationResult, error) {
	if batchSize <= 0 {
		batchSize = DefaultMigrationBatch
	}
	m := &migration{s: s, size: batchSize, progress: progress}
	if err := ctx.Err(); err != nil {
		return m.res, err
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return m.res, err
	}
	if v > schemaV2 {
		return m.res, fmt.Errorf("redisstore: the store is at schema %d, newer than this code's %d", v, schemaV2)
	}
	at := position{phase: phaseSessions}
	stored, err := s.rdb.Get(ctx, s.keys.migrationCursor()).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return m.res, m.fail(ctx, err)
	default:
		// An unreadable cursor is dropped: starting over is always safe.
		if p, ok := parsePosition(stored); ok {
			at, m.res.Resumed = p, true
		}
	}
	nodes, err := s.scanNodes(ctx)
	if err != nil {
		return m.res, m.fail(ctx, err)
	}
	for _, sc := range []*redis.Script{stampScript, repairScript, orphanScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return m.res, m.fail(ctx, err)
		}
	}
	for _, phase := range []string{phaseSessions, phaseIndexes} {
		if at.phase != phase {
			continue // the sessions are done; resume with the indexes
		}
		first := slices.IndexFunc(nodes, func(n scanNode) bool { return n.name == at.node })
		if first < 0 {
			// The node set changed since the position was stored: walk
			// the phase from its start.
			first, at.cursor = 0, 0
		}
		for i := first; i < len(nodes); i++ {
			cursor := uint64(0)
			if i == first {
				cursor = at.cursor
			}
			if err := m.walk(ctx, phase, nodes, i, cursor); err != nil {
				return m.res, err
			}
		}
		if phase == phaseSessions {
			at = position{phase: phaseIndexes, node: nodes[0].name}
		}
	}
	if err := ctx.Err(); err != nil {
		return m.res, err
	}
	if err := s.rdb.Set(ctx, s.keys.schema(), strconv.Itoa(schemaV2), 0).Err(); err != nil {
		return m.res, m.fail(ctx, err)
	}
	if err := s.rdb.Del(ctx, s.keys.migrationCursor()).Err(); err != nil {
		return m.res, m.fail(ctx, err)
	}
	m.res.Complete = true
	return m.res, nil
}

// fail turns an error into the one MigrateSchemaV2 returns: ctx's own
// when ctx ended, else ErrUnavailable.
func (m *migration) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return unavailable(err)
}

// walk SCANs nodes[i] from cursor to its end, handling each batch of the
// phase and storing the position after it.
func (m *migration) walk(ctx context.Context, phase string, nodes []scanNode, i int, cursor uint64) error {
	s := m.s
	match, typ := globEscape(s.keys.prefix)+"s:{*", "hash"
	if phase == phaseIndexes {
		match, typ = globEscape(s.keys.prefix)+"t:{*", "zset"
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		found, next, err := nodes[i].c.ScanType(ctx, cursor, match, int64(m.size), typ).Result()
		if err != nil {
			return m.fail(ctx, err)
		}
		if phase == phaseSessions {
			err = m.sessions(ctx, found)
		} else {
			err = m.indexes(ctx, found)
		}
		if err != nil {
			return err
		}
		// Where the next call starts if this one stops now. The end of
		// the index walk is not stored: the marker is set next, and a
		// run that stops before that redoes the last batch.
		pos := position{phase, nodes[i].name, next}
		switch {
		case next != 0:
		case i+1 < len(nodes):
			pos = position{phase, nodes[i+1].name, 0}
		case phase == phaseSessions:
			pos = position{phaseIndexes, nodes[0].name, 0}
		default:
			pos = position{}
		}
		if pos.phase != "" {
			if err := s.rdb.Set(ctx, s.keys.migrationCursor(), pos.String(), 0).Err(); err != nil {
				return m.fail(ctx, err)
			}
		}
		if m.progress != nil {
			m.progress(MigrationProgress{
				Scanned: m.res.Scanned, Migrated: m.res.Migrated,
				Phase: phase, OrphansRemoved: m.res.OrphansRemoved,
			})
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// sessions upgrades one batch of session hashes: stamp, then index.
func (m *migration) sessions(ctx context.Context, found []string) error {
	s := m.s
	type item struct{ id, key string }
	items := make([]item, 0, len(found))
	for _, key := range found {
		if id, ok := s.keys.parseSession(key); ok {
			items = append(items, item{id, key})
		}
	}
	if len(items) == 0 {
		return nil
	}
	m.res.Scanned += len(items)
	stamps := make([]*redis.Cmd, len(items))
	err := m.pipeline(ctx, stampScript, len(items), func(p redis.Pipeliner, i int) *redis.Cmd {
		stamps[i] = stampScript.EvalSha(ctx, p, []string{items[i].key}, sessionSchema)
		return stamps[i]
	})
	if err != nil {
		return err
	}
	type fix struct {
		id, tenant, subject string
		score               int64
		stamped             bool
	}
	now := s.clock()
	var fixes []fix
	for i, c := range stamps {
		res, err := c.Slice()
		if err != nil {
			return m.fail(ctx, err)
		}
		if len(res) == 0 {
			return m.fail(ctx, errors.New("malformed migration reply"))
		}
		code, _ := res[0].(int64)
		if code < 0 || len(res) < 5 {
			continue // gone meanwhile, or not a session
		}
		expStr, _ := res[1].(string)
		tenant, _ := res[2].(string)
		subject, _ := res[3].(string)
		rvk, _ := res[4].(string)
		exp, err := strconv.ParseInt(expStr, 10, 64)
		if err != nil || exp <= now || rvk != "" {
			// Expired, revoked for reuse, or unreadable: not live, so
			// not indexed (a tombstone keeps whatever entries it has).
			if code == 1 {
				m.res.Migrated++
			}
			continue
		}
		fixes = append(fixes, fix{items[i].id, tenant, subject, ceilMillis(exp), code == 1})
	}
	if len(fixes) == 0 {
		return nil
	}
	repairs := make([]*redis.Cmd, len(fixes))
	tenants := make([]*redis.IntCmd, len(fixes))
	err = m.pipeline(ctx, repairScript, len(fixes), func(p redis.Pipeliner, i int) *redis.Cmd {
		f := fixes[i]
		if tenants[i] == nil { // not again when only the script is retried
			tenants[i] = p.ZAddArgs(ctx, s.keys.tenants(), redis.ZAddArgs{GT: true, Ch: true,
				Members: []redis.Z{{Score: float64(f.score), Member: f.tenant}}})
		}
		repairs[i] = repairScript.EvalSha(ctx, p, []string{s.keys.tenantIndex(f.tenant), s.keys.subjectIndex(f.tenant, f.subject)},
			itoa(f.score), f.id)
		return repairs[i]
	})
	if err != nil {
		return err
	}
	for i, f := range fixes {
		changed, err := repairs[i].Int()
		if err != nil {
			return m.fail(ctx, err)
		}
		added, err := tenants[i].Result()
		if err != nil {
			return m.fail(ctx, err)
		}
		if f.stamped || changed > 0 || added > 0 {
			m.res.Migrated++
		}
	}
	return nil
}

// indexes removes, from one batch of index sets, the entries whose
// session hash is gone.
func (m *migration) indexes(ctx context.Context, found []string) error {
	s := m.s
	for _, key := range found {
		if !s.keys.isIndex(key) {
			continue
		}
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			pairs, next, err := s.rdb.ZScan(ctx, key, cursor, "", int64(m.size)).Result()
			if err != nil {
				return m.fail(ctx, err)
			}
			for chunk := range slices.Chunk(pairs, 2*m.size) {
				if err := m.dropOrphans(ctx, key, chunk); err != nil {
					return err
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// dropOrphans checks the sessions of one chunk of an index's member,
// score pairs and removes the entries of those that are gone.
func (m *migration) dropOrphans(ctx context.Context, index string, pairs []string) error {
	s := m.s
	exists := make([]*redis.IntCmd, len(pairs)/2)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range exists {
			exists[i] = p.Exists(ctx, s.keys.session(pairs[2*i]))
		}
		return nil
	})
	if err != nil {
		return m.fail(ctx, err)
	}
	var gone []any
	for i, c := range exists {
		if c.Val() == 0 {
			gone = append(gone, pairs[2*i], pairs[2*i+1])
		}
	}
	if len(gone) == 0 {
		return nil
	}
	n, err := orphanScript.Run(ctx, s.rdb, []string{index}, gone...).Int()
	if err != nil {
		return m.fail(ctx, err)
	}
	m.res.OrphansRemoved += n
	return nil
}

// pipeline runs n script calls, made by call, in one pipeline, and
// retries once, after loading the script, the calls that found it missing
// from the server's cache (a restart or failover since the run began).
// Other commands that call queues are sent again only if it queues them
// again.
func (m *migration) pipeline(ctx context.Context, sc *redis.Script, n int, call func(p redis.Pipeliner, i int) *redis.Cmd) error {
	cmds := make([]*redis.Cmd, n)
	send := func(which []int) error {
		_, err := m.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range which {
				cmds[i] = call(p, i)
			}
			return nil
		})
		if err != nil && !isNoScript(err) {
			return m.fail(ctx, err)
		}
		return nil
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if err := send(all); err != nil {
		return err
	}
	var again []int
	for i, c := range cmds {
		if isNoScript(c.Err()) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	if err := sc.Load(ctx, m.s.rdb).Err(); err != nil {
		return m.fail(ctx, err)
	}
	if err := send(again); err != nil {
		return err
	}
	for _, i := range again {
		if err := cmds[i].Err(); err != nil {
			return m.fail(ctx, err)
		}
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// globEscape quotes the characters that SCAN's MATCH pattern treats
// specially, so a prefix matches only itself.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\^-`) {
		return s
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if strings.IndexByte(`*?[]\^-`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
