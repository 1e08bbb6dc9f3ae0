package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/flight"
	"github.com/relayauth/relayauth/internal/streamlog"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/internal/codec"
	"github.com/relayauth/relayauth/session/internal/table"
)

// Store is a session.Store on Redis. Make one with New.
type Store struct {
	rdb redis.UniversalClient
	// logInScript: the revocation log shares a slot with every session
	// (not a Cluster), so a script that revokes a session logs it too.
	logInScript bool
	keys        keys
	freshness   int64 // ns
	now         func() time.Time
	lifetime    time.Duration // 0: unbounded, epochs kept for ever

	mirror  *mirror
	flight  flight.Group[string, loaded]
	observe func(time.Duration)
	// lastContact is when (store clock, ns) the last reconciliation that
	// confirmed the state was sent: a successful read of the epochs and
	// the revocation log, with the subscription up throughout. fresh
	// says whether that is within the freshness window and the
	// subscription is still up: the watchdog goroutine is its only
	// writer, so Check reads one atomic word instead of the clock, which
	// costs more than all the rest of Check on some virtual machines.
	lastContact atomic.Int64
	fresh       atomic.Bool
	kick        chan struct{} // wakes the watchdog after a contact
	// sub is the subscription's state: see setSubscribed.
	sub      atomic.Uint64
	subSince atomic.Int64 // when (store clock, ns) it last came up
	psMu     sync.Mutex
	ps       *redis.PubSub
	// dropMessages is a test hook: received messages are discarded, as
	// if lost.
	dropMessages atomic.Bool

	// Under refreshMu (the loop and the listener both reconcile).
	refreshMu    sync.Mutex
	boot         string
	epochVersion string
	cursor       streamlog.Cursor // the last revocation log entry applied
	placed       bool             // cursor holds a place in the log

	forgetting atomic.Bool // a forgetInTurn runs

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ session.Store = (*Store)(nil)

// Defaults.
const (
	DefaultPrefix    = "relayauth:"
	DefaultFreshness = 5 * time.Second
	// sweepInterval is how often the loop drops expired and covered
	// entries from the mirror.
	sweepInterval = 30 * time.Second
	// batch is how many sessions one pipeline reads or cleans.
	batch = 256
	// forgetInterval is how often one of the stores sharing a Redis scans
	// the epochs hash for epochs to forget (WithMaxLifetime); forgetBatch
	// is the COUNT hint of one scan step.
	forgetInterval = 10 * time.Minute
	forgetBatch    = 1000
)

type config struct {
	prefix    string
	freshness time.Duration
	now       func() time.Time
	negSize   int
	negTTL    time.Duration
	observe   func(time.Duration)
	lifetime  time.Duration
}

// Option configures a Store.
type Option func(*config)

// WithPrefix sets the prefix of every key (default "relayauth:"), so
// several deployments or tests can share one Redis. It may not contain
// '{' or '}', which would change the keys' hash tags.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithFreshness sets the fail-closed window (default 5s): when the store
// has not read Redis's epochs for longer than d, Check refuses every id
// with ErrUnavailable. It is also the longest that a mass revocation made
// by another instance takes to reach this one, plus the read interval of
// d/4. Shorter is stricter and reads Redis more often.
func WithFreshness(d time.Duration) Option { return func(c *config) { c.freshness = d } }

// WithNow sets the store's clock (default time.Now). It times the
// freshness window and the negative cache, and is the "now" of Revoke,
// which is not given one.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxLifetime bounds every session's life: Create and Rotate refuse
// (session.ErrInvalid) an ExpiresAt more than d after CreatedAt. In
// return the store forgets the not-before epochs older than d (plus
// session.EpochGrace): from its mirror at every sweep, and from Redis,
// where one store at a time scans the epochs hash every 10 minutes
// (Forget). Memory, the epochs hash and a reconciliation's read of it are
// then bounded by the revocations of the last d, not every subject ever
// revoked. The server passes SESSION_TTL. Without it (or with d ≤ 0)
// epochs are kept for ever.
func WithMaxLifetime(d time.Duration) Option { return func(c *config) { c.lifetime = max(d, 0) } }

// WithNegativeCache bounds the memory of ids that Redis did not know:
// at most size ids (default 65536), each for ttl (default the freshness
// window). A size of 0 turns it off.
func WithNegativeCache(size int, ttl time.Duration) Option {
	return func(c *config) { c.negSize, c.negTTL = size, ttl }
}

// WithPropagationObserver sets a function called with the propagation
// time of every revocation this store learns of: its clock's now minus
// the instant the revocation was made (on the revoking store's clock),
// for every message the subscription delivers, and for every revocation
// that reconciliation finds the mirror had missed. For the
// auth_revocation_propagation_seconds histogram. It runs on the
// listener's goroutine and must be quick.
func WithPropagationObserver(f func(time.Duration)) Option {
	return func(c *config) { c.observe = f }
}

// New returns a store on client. It subscribes to the revocations
// channel, then reads the epochs and the revocation log's position, and
// fails with session.ErrUnavailable if it cannot.
func New(ctx context.Context, client redis.UniversalClient, opts ...Option) (*Store, error) {
	c := config{prefix: DefaultPrefix, freshness: DefaultFreshness, now: time.Now, negSize: 1 << 16, negTTL: -1}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case client == nil:
		return nil, errors.New("redisstore: nil client")
	case strings.ContainsAny(c.prefix, "{}"):
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace", c.prefix)
	case c.freshness <= 0:
		return nil, fmt.Errorf("redisstore: freshness %v is not positive", c.freshness)
	case c.now == nil:
		return nil, errors.New("redisstore: nil clock")
	}
	if c.negTTL < 0 {
		c.negTTL = c.freshness
	}
	s := &Store{
		rdb:       client,
		keys:      keys{c.prefix},
		freshness: int64(c.freshness),
		now:       c.now,
		lifetime:  c.lifetime,
		mirror:    newMirror(c.negSize, int64(c.negTTL)),
		observe:   c.observe,
		kick:      make(chan struct{}, 1),
	}
	s.mirror.lifetime = int64(c.lifetime)
	_, cluster := client.(*redis.ClusterClient)
	s.logInScript = !cluster
	// Subscribed first, so nothing published after the read is missed.
	ps, err := s.subscribe(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	s.setSubscribed(true)
	if err := s.refresh(ctx); err != nil {
		ps.Close()
		return nil, unavailable(err)
	}
	s.fresh.Store(true)
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.wg.Go(func() { s.loop(loopCtx) })
	s.wg.Go(func() { s.watch(loopCtx) })
	s.wg.Go(func() { s.listen(loopCtx, ps) })
	return s, nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", session.ErrUnavailable, err) }

func (s *Store) clock() int64 { return s.now().UnixNano() }

// watch keeps fresh up to date: false as soon as the subscription is
// down or the last contact is about to leave the freshness window, true
// again right after a contact with the subscription up. It runs on its
// own goroutine, so a reconciliation stuck on a dead Redis cannot hold it.
func (s *Store) watch(ctx context.Context) {
	tick := time.NewTicker(time.Duration(s.watchTick()))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
		}
		s.fresh.Store(s.judge(s.clock()))
	}
}

// watchTick is how often watch judges: freshness/16.
func (s *Store) watchTick() int64 { return max(s.freshness/16, int64(time.Millisecond)) }

// judge says whether the state is fresh at now. As watch judges only
// every tick, a contact counts until one tick before the window ends, so
// that Check fails closed within the window, never up to a tick late.
func (s *Store) judge(now int64) bool {
	last := s.lastContact.Load()
	return s.sub.Load()&1 == 1 && last >= s.subSince.Load() && now-last <= s.freshness-s.watchTick()
}

// loop reconciles every freshness/4 and sweeps the mirror.
func (s *Store) loop(ctx context.Context) {
	every := time.Duration(s.freshness / 4)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastSweep := s.clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		_ = s.refresh(rctx) // a failure shows as staleness
		cancel()
		if now := s.clock(); now-lastSweep >= int64(sweepInterval) {
			s.mirror.apply(change{kind: sweep, at: now, before: s.forgetBefore(now)})
			lastSweep = now
			// On its own goroutine: a long scan must not hold back the
			// reconciliations that keep this store fresh.
			if s.lifetime > 0 && s.forgetting.CompareAndSwap(false, true) {
				s.wg.Go(func() {
					defer s.forgetting.Store(false)
					s.forgetInTurn(ctx)
				})
			}
		}
	}
}

// refresh reconciles: it reads the epochs hash (the boot marker, which
// tells whether Redis lost its data, and, when their version moved, every
// epoch) and the revocation log since the last entry applied. On success,
// if the subscription was up throughout, it records the time the read was
// sent as the last contact.
func (s *Store) refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	sub := s.sub.Load()
	start := s.clock()
	vals, err := s.rdb.HMGet(ctx, s.keys.epochs(), fieldVersion, fieldBoot).Result()
	if err != nil {
		return err
	}
	version, _ := vals[0].(string)
	boot, _ := vals[1].(string)
	if boot == "" {
		// First start, or Redis lost its data (restart without
		// persistence, flush): mark this generation of the data.
		var b [16]byte
		rand.Read(b[:])
		if err := s.rdb.HSetNX(ctx, s.keys.epochs(), fieldBoot, hex.EncodeToString(b[:])).Err(); err != nil {
			return err
		}
		if boot, err = s.rdb.HGet(ctx, s.keys.epochs(), fieldBoot).Result(); err != nil {
			return err
		}
	}
	if s.boot != "" && boot != s.boot {
		// The sessions this mirror holds may be gone from Redis: forget
		// them all and load again on demand. Epochs stay; they only rise.
		s.mirror.apply(change{kind: reset})
		s.epochVersion = ""
		s.cursor, s.placed = streamlog.Cursor{}, true // a new log, if any: from its start
	}
	s.boot = boot
	if version != s.epochVersion || s.epochVersion == "" {
		all, err := s.rdb.HGetAll(ctx, s.keys.epochs()).Result()
		if err != nil {
			return err
		}
		old := s.forgetBefore(s.clock())
		for f, v := range all {
			sc, ok := parseEpochField(f)
			at, err := strconv.ParseInt(v, 10, 64)
			// An epoch due to be forgotten covers no live session.
			if ok && err == nil && at >= old {
				s.mirror.apply(change{kind: epoch, scope: sc, at: at})
			}
		}
		s.epochVersion = all[fieldVersion]
		if s.epochVersion == "" {
			s.epochVersion = "0"
		}
	}
	if err := s.readLog(ctx); err != nil {
		return err
	}
	if sub&1 == 1 && s.sub.Load() == sub {
		s.lastContact.Store(start)
	}
	s.wake()
	return nil
}

// forgetBefore is the instant before which epochs are forgotten at now;
// math.MinInt64 (none) without a lifetime bound.
func (s *Store) forgetBefore(now int64) int64 {
	if s.lifetime == 0 {
		return math.MinInt64
	}
	return session.ForgetBefore(time.Unix(0, now), s.lifetime)
}

// forgetInTurn runs Forget if no store sharing this Redis ran it in the
// last forgetInterval (a lease key, set if absent, that Redis expires), so
// that one store, not every one, scans the epochs hash. Best effort: an
// epoch forgotten late costs only memory.
func (s *Store) forgetInTurn(ctx context.Context) {
	if s.lifetime == 0 {
		return
	}
	ok, err := s.rdb.SetNX(ctx, s.keys.forgetLease(), "1", forgetInterval).Result()
	if err != nil || !ok {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, forgetInterval/2)
	defer cancel()
	_, _ = s.Forget(fctx, s.now())
}

// Forget deletes from Redis, and from this store's mirror, every epoch
// that now is past the lifetime bound of (see WithMaxLifetime), and
// returns how many it deleted from Redis. It reads the epochs hash in
// steps of about a thousand fields, each one short script, so Redis is
// never held for long. Without a lifetime bound it forgets nothing. The
// store runs it on its own; tests call it with their clock's now.
func (s *Store) Forget(ctx context.Context, now time.Time) (int, error) {
	if s.lifetime == 0 {
		return 0, nil
	}
	n := now.UnixNano()
	before := s.forgetBefore(n)
	s.mirror.apply(change{kind: sweep, at: n, before: before})
	deleted, cursor := 0, "0"
	for {
		res, err := forgetScript.Run(ctx, s.rdb, []string{s.keys.epochs()}, cursor, itoa(before), forgetBatch).Slice()
		if err != nil {
			return deleted, unavailable(err)
		}
		if len(res) != 2 {
			return deleted, unavailable(fmt.Errorf("forget script answered %d values", len(res)))
		}
		cursor, _ = res[0].(string)
		d, _ := res[1].(int64)
		deleted += int(d)
		if cursor == "0" || cursor == "" {
			return deleted, nil
		}
	}
}

// Close stops the background goroutines. It does not close the client,
// which belongs to the caller. After Close, Check answers ErrUnavailable.
// Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.cutSubscription()
		s.wg.Wait()
		s.fresh.Store(false) // nothing keeps the mirror fresh any more
	})
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ceilMillis is the first Unix millisecond at or after ns, for PEXPIREAT
// and index scores: Redis keeps a key at least until its session expires.
func ceilMillis(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 > 0 {
		ms++
	}
	return ms
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// callToken is a random token that tells one call's write from any other
// call's, so that a script run twice for one call (see createScript)
// recognises its own first run. 64 bits: it only has to tell apart calls
// that name the same random session id.
func callToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create records a new session.
func (s *Store) Create(ctx context.Context, sess session.Session) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	created, _ := codec.Nanos(sess.CreatedAt)
	lastSeen, _ := codec.Nanos(sess.LastSeenAt)
	expires, _ := codec.Nanos(sess.ExpiresAt)
	expMs := ceilMillis(expires)
	if s.lifetime > 0 && expires-created > int64(s.lifetime) {
		return fmt.Errorf("%w: ExpiresAt is more than %v after CreatedAt", session.ErrInvalid, s.lifetime)
	}
	seen := s.mirror.rev.Load()
	args := []any{itoa(created), itoa(expMs), callToken(),
		"sv", sessionSchema, "crt", itoa(created), "lst", itoa(lastSeen), "exp", itoa(expires)}
	// Empty fields are left out: a missing field reads as "".
	for _, f := range [...]struct{ name, value string }{
		{"sub", sess.Subject}, {"ten", sess.Tenant},
		{"rol", codec.EncodeList(sess.Roles)}, {"sco", codec.EncodeList(sess.Scopes)},
		{"ip", sess.IP}, {"ua", sess.UserAgent}, {"rid", sess.RefreshID},
	} {
		if f.value != "" {
			args = append(args, f.name, f.value)
		}
	}
	ok, err := createScript.Run(ctx, s.rdb, []string{s.keys.session(sess.ID)}, args...).Int()
	if err != nil {
		return unavailable(err)
	}
	if ok == 0 {
		return session.ErrExists
	}
	nowMs := itoa(s.clock() / 1e6)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		indexScript.Eval(ctx, p, []string{s.keys.tenantIndex(sess.Tenant), s.keys.subjectIndex(sess.Tenant, sess.Subject)},
			itoa(expMs), sess.ID, nowMs, "")
		p.ZAddGT(ctx, s.keys.tenants(), redis.Z{Score: float64(expMs), Member: sess.Tenant})
		p.ZRemRangeByScore(ctx, s.keys.tenants(), "-inf", "("+nowMs)
		// The call's token has served: createScript has answered.
		p.HDel(ctx, s.keys.session(sess.ID), "cn")
		return nil
	})
	if err != nil {
		// Unindexed, the session would be missing from List. The caller
		// sees a failure and issues no token, so take it back if we can.
		s.rdb.Del(context.WithoutCancel(ctx), s.keys.session(sess.ID))
		return unavailable(err)
	}
	s.mirror.apply(change{kind: upsert, id: sess.ID, seen: seen, rec: table.Record[struct{}]{
		Tenant: sess.Tenant, Subject: sess.Subject, Created: created, Expires: expires,
	}})
	return nil
}

// fields reads a session hash, as HGETALL's map or as a script's flat
// field, value list.
type fields map[string]string

func fieldsOf(v any) (fields, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, errors.New("malformed session reply")
	}
	f := make(fields, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		v, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("malformed session reply")
		}
		f[k] = v
	}
	return f, nil
}

// recordFields are the fields that Check needs, all that record reads.
var recordFields = []string{"ten", "sub", "crt", "exp", "rvk"}

// record reads the part of a session hash that the mirror keeps.
func (f fields) record() (table.Record[struct{}], error) {
	created, err1 := strconv.ParseInt(f["crt"], 10, 64)
	expires, err2 := strconv.ParseInt(f["exp"], 10, 64)
	if err1 != nil || err2 != nil {
		return table.Record[struct{}]{}, errors.New("corrupt session record: times")
	}
	return table.Record[struct{}]{Tenant: f["ten"], Subject: f["sub"], Created: created, Expires: expires, Revoked: f["rvk"] != ""}, nil
}

// decode turns a session hash into a Session and its mirror record.
func (f fields) decode(id string) (session.Session, table.Record[struct{}], error) {
	rec, err := f.record()
	lastSeen, err1 := strconv.ParseInt(f["lst"], 10, 64)
	roles, err2 := codec.DecodeList(f["rol"])
	scopes, err3 := codec.DecodeList(f["sco"])
	if err := errors.Join(err, err1, err2, err3); err != nil {
		return session.Session{}, rec, fmt.Errorf("corrupt session record: %w", err)
	}
	return session.Session{
		ID: id, Subject: rec.Subject, Tenant: rec.Tenant, Roles: roles, Scopes: scopes,
		CreatedAt: codec.Time(rec.Created), LastSeenAt: codec.Time(lastSeen), ExpiresAt: codec.Time(rec.Expires),
		IP: f["ip"], UserAgent: f["ua"], RefreshID: f["rid"],
	}, rec, nil
}

// live reports whether rec is live at now: not expired, not revoked and
// not covered by an epoch the mirror knows.
func (s *Store) live(rec table.Record[struct{}], now int64) bool {
	if s.lifetime > 0 && rec.Expires-rec.Created > int64(s.lifetime) {
		rec.Expires = rec.Created + int64(s.lifetime) // see mirror.lifetime
	}
	return rec.Expires > now && !rec.Revoked && rec.Created >= s.mirror.t.Floor(rec.Tenant, rec.Subject)
}

// Get reads the session from Redis.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (session.Session, error) {
	seen := s.mirror.rev.Load()
	m, err := s.rdb.HGetAll(ctx, s.keys.session(id)).Result()
	if err != nil {
		return session.Session{}, unavailable(err)
	}
	if len(m) == 0 {
		return session.Session{}, session.ErrNotFound
	}
	sess, rec, err := fields(m).decode(id)
	if err != nil {
		return session.Session{}, unavailable(err)
	}
	n := now.UnixNano()
	if rec.Expires > n {
		s.mirror.apply(change{kind: upsert, id: id, seen: seen, rec: rec})
	}
	if !s.live(rec, n) {
		return session.Session{}, session.ErrNotFound
	}
	return sess, nil
}

// List reads the matching sessions through the index sets.
func (s *Store) List(ctx context.Context, f session.Filter, now time.Time) ([]session.Session, error) {
	n := now.UnixNano()
	fromMs := strconv.FormatInt(n/1e6, 10)
	var tenants []string
	if f.Tenant != "" {
		tenants = []string{f.Tenant}
	} else {
		all, err := s.rdb.ZRangeByScore(ctx, s.keys.tenants(), &redis.ZRangeBy{Min: fromMs, Max: "+inf"}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		tenants = all
	}
	// The candidates: index members not expired by their score.
	type candidate struct{ id, tenant string }
	var cands []candidate
	for chunk := range slices.Chunk(tenants, batch) {
		cmds := make([]*redis.StringSliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, t := range chunk {
				key := s.keys.tenantIndex(t)
				if f.Subject != "" {
					key = s.keys.subjectIndex(t, f.Subject)
				}
				cmds[i] = p.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: fromMs, Max: "+inf"})
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		for i, c := range cmds {
			for _, id := range c.Val() {
				cands = append(cands, candidate{id, chunk[i]})
			}
		}
	}
	var out []session.Session
	var gone []candidate
	for chunk := range slices.Chunk(cands, batch) {
		seen := s.mirror.rev.Load()
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range chunk {
				cmds[i] = p.HGetAll(ctx, s.keys.session(c.id))
			}
			return nil
		})
		if err != nil {
			return nil, unavailable(err)
		}
		for i, c := range chunk {
			m := cmds[i].Val()
			if len(m) == 0 {
				gone = append(gone, c)
				continue
			}
			sess, rec, err := fields(m).decode(c.id)
			if err != nil {
				return nil, unavailable(err)
			}
			if rec.Expires > n {
				s.mirror.apply(change{kind: upsert, id: c.id, seen: seen, rec: rec})
			}
			// The index is not the truth: check the session itself.
			if s.live(rec, n) && f.Matches(&sess) && sess.Tenant == c.tenant {
				out = append(out, sess)
			}
		}
	}
	if len(gone) > 0 {
		// Index entries whose session Redis expired or deleted: drop
		// them, best effort (the next List or revocation retries).
		s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range gone {
				p.ZRem(ctx, s.keys.tenantIndex(c.tenant), c.id)
				if f.Subject != "" {
					p.ZRem(ctx, s.keys.subjectIndex(c.tenant, f.Subject), c.id)
				}
			}
			return nil
		})
	}
	slices.SortFunc(out, func(a, b session.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Rotate runs the refresh atomically on the server (rotateScript).
func (s *Store) Rotate(ctx context.Context, id, presented, next string, now, expiresAt time.Time) (session.Session, error) {
	n, ok1 := codec.Nanos(now)
	exp, ok2 := codec.Nanos(expiresAt)
	if !ok1 || !ok2 {
		return session.Session{}, fmt.Errorf("%w: rotate times out of range", session.ErrInvalid)
	}
	seen := s.mirror.rev.Load()
	made := s.clock()
	earliest := ""
	if s.lifetime > 0 {
		earliest = itoa(exp - int64(s.lifetime))
	}
	keys := []string{s.keys.session(id)}
	if s.logInScript {
		keys = append(keys, s.keys.revokedLog())
	}
	res, err := rotateScript.Run(ctx, s.rdb, keys,
		presented, next, itoa(n), itoa(exp), itoa(ceilMillis(exp)),
		s.keys.revocations(), sessionMessage(made, id), earliest,
		logMinID(made), id, itoa(made)).Slice()
	if err != nil {
		return session.Session{}, unavailable(err)
	}
	code, _ := res[0].(int64)
	var sess session.Session
	var rec table.Record[struct{}]
	if len(res) > 1 {
		f, err := fieldsOf(res[1])
		if err == nil {
			sess, rec, err = f.decode(id)
		}
		if err != nil {
			return session.Session{}, unavailable(err)
		}
	}
	switch {
	case code == -2:
		return session.Session{}, fmt.Errorf("%w: ExpiresAt is more than %v after CreatedAt", session.ErrInvalid, s.lifetime)
	case code == 0:
		s.mirror.apply(change{kind: forget, id: id, at: s.clock()})
		return session.Session{}, session.ErrNotFound
	case code < 0:
		if len(res) > 1 {
			s.mirror.apply(change{kind: upsert, id: id, seen: seen, rec: rec})
			// Revoked for reuse just now, published by the script and,
			// but on a Cluster, logged by it. On a Cluster the log is in
			// another slot: logged here, in a second step, best effort
			// (the message is out already).
			if !s.logInScript {
				s.logRevocation(context.WithoutCancel(ctx), id, made)
			}
		}
		s.mirror.apply(change{kind: revoked, id: id, at: s.clock()})
		return session.Session{}, session.ErrRefreshReused
	}
	if !s.live(rec, n) {
		// Rotated, but an epoch covers it: it was dead all along. Take
		// it out of Redis too, best effort.
		s.mirror.apply(change{kind: forget, id: id, at: s.clock()})
		s.rdb.Del(context.WithoutCancel(ctx), s.keys.session(id))
		return session.Session{}, session.ErrNotFound
	}
	s.mirror.apply(change{kind: upsert, id: id, seen: seen, rec: rec})
	// The index scores follow the new expiry, best effort: the refresh
	// has happened and its new token must reach the client. A lagging
	// score only makes List drop the session early.
	ictx := context.WithoutCancel(ctx)
	s.rdb.Pipelined(ictx, func(p redis.Pipeliner) error {
		indexScript.Eval(ictx, p, []string{s.keys.tenantIndex(sess.Tenant), s.keys.subjectIndex(sess.Tenant, sess.Subject)},
			itoa(ceilMillis(exp)), id, itoa(s.clock()/1e6), "xx")
		p.ZAddGT(ictx, s.keys.tenants(), redis.Z{Score: float64(ceilMillis(exp)), Member: sess.Tenant})
		return nil
	})
	return sess, nil
}

// Revoke ends one session.
func (s *Store) Revoke(ctx context.Context, id string) error {
	// Locally first, so this instance stops vouching at once, and again
	// after Redis answers, so a load that read the session meanwhile
	// cannot bring it back.
	now := s.clock()
	s.mirror.apply(change{kind: revoked, id: id, at: now})
	// Logged first, so a revocation that took effect is never missing
	// from the log that reconciliation reads; the script deletes and
	// publishes in one step.
	err := s.logRevocation(ctx, id, now)
	var res []any
	if err == nil {
		res, err = revokeScript.Run(ctx, s.rdb, []string{s.keys.session(id)}, itoa(now),
			s.keys.revocations(), sessionMessage(now, id)).Slice()
	}
	s.mirror.apply(change{kind: revoked, id: id, at: now})
	if err != nil {
		return unavailable(err)
	}
	if len(res) < 4 {
		return session.ErrNotFound
	}
	live, _ := res[0].(int64)
	tenant, _ := res[1].(string)
	subject, _ := res[2].(string)
	crt, _ := res[3].(string)
	created, err := strconv.ParseInt(crt, 10, 64)
	s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.keys.tenantIndex(tenant), id)
		p.ZRem(ctx, s.keys.subjectIndex(tenant, subject), id)
		return nil
	})
	if live != 1 || err != nil || created < s.mirror.t.Floor(tenant, subject) {
		return session.ErrNotFound
	}
	return nil
}

// scope is a mass revocation's reach.
type scope struct {
	kind            scopeKind
	tenant, subject string
}

type scopeKind uint8

const (
	kindAll scopeKind = iota
	kindTenant
	kindSubject
)

func (sc scope) table() table.Scope {
	switch sc.kind {
	case kindTenant:
		return table.Tenant(sc.tenant)
	case kindSubject:
		return table.Subject(sc.tenant, sc.subject)
	}
	return table.All()
}

// RevokeSubject ends every session of subject in tenant created before at
// and returns how many of them were live at at.
func (s *Store) RevokeSubject(ctx context.Context, tenant, subject string, at time.Time) (int, error) {
	return s.revoke(ctx, scope{kindSubject, tenant, subject}, at)
}

// RevokeTenant ends every session of tenant created before at.
func (s *Store) RevokeTenant(ctx context.Context, tenant string, at time.Time) (int, error) {
	return s.revoke(ctx, scope{kind: kindTenant, tenant: tenant}, at)
}

// RevokeAll ends every session created before at.
func (s *Store) RevokeAll(ctx context.Context, at time.Time) (int, error) {
	return s.revoke(ctx, scope{kind: kindAll}, at)
}

// revoke raises sc's epoch, in the mirror first (effective here at once)
// and then in Redis (effective everywhere within freshness/4), and then
// deletes the sessions the epoch covers, counting those that were live.
func (s *Store) revoke(ctx context.Context, sc scope, at time.Time) (int, error) {
	n, ok := codec.Nanos(at)
	if !ok {
		return 0, fmt.Errorf("%w: revocation time %v is out of range", session.ErrInvalid, at)
	}
	old := s.mirror.apply(change{kind: epoch, scope: sc, at: n})
	field := epochField(sc.kind, sc.tenant, sc.subject)
	prev, err := epochScript.Run(ctx, s.rdb, []string{s.keys.epochs()}, field, itoa(n),
		s.keys.revocations(), epochMessage(s.clock(), n, field)).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, unavailable(err)
	}
	if p, err := strconv.ParseInt(prev, 10, 64); err == nil {
		old = max(old, p)
	}
	var tenants []string
	if sc.kind == kindAll {
		if tenants, err = s.rdb.ZRange(ctx, s.keys.tenants(), 0, -1).Result(); err != nil {
			return 0, unavailable(err)
		}
	} else {
		tenants = []string{sc.tenant}
	}
	if err := coveredScript.Load(ctx, s.rdb).Err(); err != nil {
		return 0, unavailable(err)
	}
	ended := 0
	for _, tenant := range tenants {
		index := s.keys.tenantIndex(tenant)
		if sc.kind == kindSubject {
			index = s.keys.subjectIndex(tenant, sc.subject)
		}
		ids, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
		if err != nil {
			return ended, unavailable(err)
		}
		for chunk := range slices.Chunk(ids, batch) {
			cmds := make([]*redis.Cmd, len(chunk))
			_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, id := range chunk {
					cmds[i] = coveredScript.EvalSha(ctx, p, []string{s.keys.session(id)}, itoa(n))
				}
				return nil
			})
			if err != nil {
				return ended, unavailable(err)
			}
			_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, id := range chunk {
					res, _ := cmds[i].Slice()
					if len(res) == 0 {
						continue
					}
					code, _ := res[0].(int64)
					if code == -2 {
						continue // created at or after at: not covered
					}
					p.ZRem(ctx, s.keys.tenantIndex(tenant), id)
					if len(res) < 3 {
						if sc.kind == kindSubject {
							p.ZRem(ctx, index, id)
						}
						continue // gone already
					}
					subject, _ := res[1].(string)
					crt, _ := res[2].(string)
					created, _ := strconv.ParseInt(crt, 10, 64)
					p.ZRem(ctx, s.keys.subjectIndex(tenant, subject), id)
					// Live at at, and not dead already by an epoch
					// older than this revocation.
					if code == 1 && created >= s.mirror.t.FloorBefore(sc.table(), old, tenant, subject) {
						ended++
					}
				}
				return nil
			})
			if err != nil {
				return ended, unavailable(err)
			}
		}
	}
	return ended, nil
}

// Check answers from the mirror; see the package documentation.
func (s *Store) Check(ctx context.Context, id string, now time.Time) error {
	if !s.fresh.Load() {
		return session.ErrUnavailable
	}
	n := now.UnixNano()
	switch s.mirror.t.Status(id, n) {
	case table.Live:
		return nil
	case table.Revoked, table.Covered:
		return session.ErrNotFound
	}
	return s.checkSlow(ctx, id, n)
}

// checkSlow handles an id the mirror does not hold, or holds as expired
// (another instance may have extended it): ask Redis, once.
func (s *Store) checkSlow(ctx context.Context, id string, n int64) error {
	clock := s.clock()
	if s.mirror.neg.has(id, clock) {
		return session.ErrNotFound
	}
	got, err := s.flight.Do(ctx, id, func() (loaded, error) {
		seen := s.mirror.rev.Load()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(s.freshness))
		defer cancel()
		vals, err := s.rdb.HMGet(lctx, s.keys.session(id), recordFields...).Result()
		if err != nil {
			return loaded{}, unavailable(err)
		}
		f := fields{}
		for i, name := range recordFields {
			if v, ok := vals[i].(string); ok {
				f[name] = v
			}
		}
		if f["crt"] == "" {
			s.mirror.neg.add(id, clock)
			return loaded{}, nil
		}
		rec, err := f.record()
		if err != nil {
			return loaded{}, unavailable(err)
		}
		if rec.Expires > n {
			s.mirror.apply(change{kind: upsert, id: id, seen: seen, rec: rec})
		} else {
			s.mirror.neg.add(id, clock)
		}
		return loaded{rec: rec, found: true}, nil
	})
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return unavailable(err) // the caller stopped waiting for another's read
	case err != nil:
		return err
	case !got.found || !s.live(got.rec, n):
		return session.ErrNotFound
	}
	return nil
}

// loaded is one session read from Redis on a mirror miss.
type loaded struct {
	rec   table.Record[struct{}]
	found bool
}

// mirrorLen reports the mirror's size, for tests.
func (s *Store) mirrorLen() (sessions, negative int) { return s.mirror.t.Len(), s.mirror.neg.len() }

// Backend names the backend for diagnostics.
func (s *Store) Backend() string { return "redis" }
