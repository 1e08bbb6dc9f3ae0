package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/apikey"
)

// Store is an apikey.Store on Redis. Make one with New.
type Store struct {
	rdb  redis.UniversalClient
	keys keys
	// tenantOf caches id → tenant. A key never changes tenant and ids
	// are never reused, so an entry is never wrong; only ids of records
	// that were read are cached.
	tenantOf sync.Map
	// dropMessages is a test hook: received change messages are
	// discarded, as if lost.
	dropMessages atomic.Bool
}

var _ apikey.Store = (*Store)(nil)

// DefaultPrefix is the prefix of every key unless WithPrefix says
// otherwise; it is the session store's, whose keys do not collide with
// these ("ak:...").
const DefaultPrefix = "relayauth:"

const (
	batch = 256 // records per pipeline in List
	// maxAttempts bounds Update's compare-and-swap retries: enough for
	// hundreds of concurrent Updates of one key.
	maxAttempts = 1000
	// deletedFor is how long deleteScript's marker lives: far longer than
	// go-redis takes to send a command again after a lost reply.
	deletedFor = 5 * time.Minute
)

// callToken is a random token that tells one call's write from any other
// call's, so that a script that runs twice for one call (go-redis sends a
// command again when its connection drops after the command reached
// Redis) recognises its own first run; see createScript.
func callToken() string { return crand.Text() }

type config struct{ prefix string }

// Option configures a Store.
type Option func(*config)

// WithPrefix sets the prefix of every key (default "relayauth:"), so
// several deployments or tests can share one Redis. It may not contain
// '{' or '}', which would change the keys' hash tags.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// New returns a store on client, after checking that Redis answers
// (apikey.ErrUnavailable if not).
func New(ctx context.Context, client redis.UniversalClient, opts ...Option) (*Store, error) {
	c := config{prefix: DefaultPrefix}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case client == nil:
		return nil, errors.New("redisstore: nil client")
	case strings.ContainsAny(c.prefix, "{}"):
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace", c.prefix)
	}
	s := &Store{rdb: client, keys: keys{c.prefix}}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", apikey.ErrUnavailable, err) }

var errCorrupt = errors.New("corrupt API key record")

// record is the hash of one key as stored.
type record struct {
	key apikey.Key
	ver string
}

// encodeDoc is the doc field: the key as JSON without LastUsedAt, which
// lives in lu so that touching it is not a change of the document.
func encodeDoc(k apikey.Key) (string, error) {
	k.LastUsedAt = time.Time{}
	b, err := json.Marshal(k)
	return string(b), err
}

func luField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func parseLu(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errCorrupt
	}
	return time.Unix(0, n).UTC(), nil
}

// decode reads a record hash (HGETALL's map) of key id.
func decode(id string, m map[string]string) (record, error) {
	var r record
	if err := json.Unmarshal([]byte(m["doc"]), &r.key); err != nil || r.key.ID != id {
		return record{}, unavailable(errCorrupt)
	}
	lu, err := parseLu(m["lu"])
	if err != nil {
		return record{}, unavailable(err)
	}
	r.key.LastUsedAt, r.ver = lu, m["ver"]
	return r, nil
}

func hashes(k *apikey.Key) []apikey.Hash {
	if k.PrevHash.IsZero() {
		return []apikey.Hash{k.Hash}
	}
	return []apikey.Hash{k.Hash, k.PrevHash}
}

// Create claims the id and the hashes, then writes the record in the
// tenant's slot; see the package documentation for the order.
func (s *Store) Create(ctx context.Context, k apikey.Key) (err error) {
	if err := k.Validate(); err != nil {
		return err
	}
	doc, err := encodeDoc(k)
	if err != nil {
		return err
	}
	var claimed []claim
	defer func() {
		if err != nil {
			s.release(ctx, claimed...)
		}
	}()
	// SET NX: these make ids and hashes unique across tenants.
	claims := []claim{{s.keys.idIndex(k.ID), k.Tenant}}
	for _, h := range hashes(&k) {
		claims = append(claims, claim{s.keys.hashIndex(h), owner(k.ID, k.Tenant)})
	}
	for _, c := range claims {
		fresh, err := s.claim(ctx, c)
		if err != nil {
			return err
		}
		if fresh {
			claimed = append(claimed, c)
		}
	}
	// Listed before it is written, so List("") never misses a tenant.
	if err := s.rdb.SAdd(ctx, s.keys.tenants(), k.Tenant).Err(); err != nil {
		return unavailable(err)
	}
	res, err := createScript.Run(ctx, s.rdb,
		[]string{s.keys.record(k.Tenant, k.ID), s.keys.ids(k.Tenant), s.keys.names(k.Tenant)},
		k.ID, k.Name, doc, luField(k.LastUsedAt), callToken()).Int()
	switch {
	case err != nil:
		return unavailable(err)
	case res == 0:
		return apikey.ErrExists
	case res < 0:
		return apikey.ErrNameTaken
	}
	s.tenantOf.Store(k.ID, k.Tenant)
	return nil
}

// claim is an index entry this store wrote: its key and value.
type claim struct{ key, value string }

// claim writes an index entry unless the key exists (SET NX GET), and
// reports whether it wrote it. An entry that already holds c.value is
// this key's: the claim's own first run, when go-redis sent the SET again
// after a lost reply (or, for a hash, the key's own leftover, which only
// points back at it). It is accepted but not reported as written, so it
// is never taken back: if another call of the same key wrote it, it may
// be that call's to keep. Any other value is another key's: ErrExists.
func (s *Store) claim(ctx context.Context, c claim) (fresh bool, err error) {
	held, err := s.rdb.SetArgs(ctx, c.key, c.value, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, unavailable(err)
	case held != c.value:
		return false, apikey.ErrExists
	}
	return false, nil
}

// release takes back index entries that still hold what this store wrote.
// Best effort, and not bounded by the caller's context: a claim left
// behind is harmless (see the package documentation) but untidy.
func (s *Store) release(ctx context.Context, claims ...claim) {
	if len(claims) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range claims {
			releaseScript.Eval(ctx, p, []string{c.key}, c.value)
		}
		return nil
	})
}

// tenant returns the tenant of key id, from the cache or the id index.
func (s *Store) tenant(ctx context.Context, id string) (string, error) {
	if t, ok := s.tenantOf.Load(id); ok {
		return t.(string), nil
	}
	t, err := s.rdb.Get(ctx, s.keys.idIndex(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", apikey.ErrNotFound
	}
	if err != nil {
		return "", unavailable(err)
	}
	if !apikey.ValidTenant(t) {
		return "", unavailable(errCorrupt)
	}
	return t, nil
}

// read returns the record of key id in tenant.
func (s *Store) read(ctx context.Context, tenant, id string) (record, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.record(tenant, id)).Result()
	if err != nil {
		return record{}, unavailable(err)
	}
	if len(m) == 0 {
		return record{}, apikey.ErrNotFound
	}
	r, err := decode(id, m)
	if err != nil {
		return record{}, err
	}
	s.tenantOf.Store(id, tenant)
	return r, nil
}

// Get returns the key with this id: id index, then record.
func (s *Store) Get(ctx context.Context, id string) (apikey.Key, error) {
	if !apikey.ValidID(id) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	tenant, err := s.tenant(ctx, id)
	if err != nil {
		return apikey.Key{}, err
	}
	r, err := s.read(ctx, tenant, id)
	return r.key, err
}

// GetByHash returns the key whose current or previous hash is h: hash
// index, then record, which must still hold h.
func (s *Store) GetByHash(ctx context.Context, h apikey.Hash) (apikey.Key, error) {
	if h.IsZero() {
		return apikey.Key{}, apikey.ErrNotFound
	}
	v, err := s.rdb.Get(ctx, s.keys.hashIndex(h)).Result()
	if errors.Is(err, redis.Nil) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, unavailable(err)
	}
	id, tenant, ok := strings.Cut(v, " ")
	if !ok || !apikey.ValidID(id) || !apikey.ValidTenant(tenant) {
		return apikey.Key{}, unavailable(errCorrupt)
	}
	r, err := s.read(ctx, tenant, id)
	if err != nil {
		return apikey.Key{}, err
	}
	if r.key.Hash != h && r.key.PrevHash != h {
		return apikey.Key{}, apikey.ErrNotFound // a leftover index entry
	}
	return r.key, nil
}

// List reads the tenant's id set (or every tenant's), then the records.
func (s *Store) List(ctx context.Context, tenant string) ([]apikey.Key, error) {
	var tenants []string
	switch {
	case tenant == "":
		all, err := s.rdb.SMembers(ctx, s.keys.tenants()).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, t := range all {
			if apikey.ValidTenant(t) {
				tenants = append(tenants, t)
			}
		}
	case apikey.ValidTenant(tenant):
		tenants = []string{tenant}
	default:
		return []apikey.Key{}, nil // no key can have this tenant
	}
	type ref struct{ tenant, id string }
	var refs []ref
	for chunk := range slices.Chunk(tenants, batch) {
		cmds := make([]*redis.StringSliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, t := range chunk {
				cmds[i] = p.SMembers(ctx, s.keys.ids(t))
			}
			return nil
		})
		if err != nil {
			return nil, unavailable(err)
		}
		for i, c := range cmds {
			for _, id := range c.Val() {
				refs = append(refs, ref{chunk[i], id})
			}
		}
	}
	out := make([]apikey.Key, 0, len(refs))
	for chunk := range slices.Chunk(refs, batch) {
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, r := range chunk {
				cmds[i] = p.HGetAll(ctx, s.keys.record(r.tenant, r.id))
			}
			return nil
		})
		if err != nil {
			return nil, unavailable(err)
		}
		for i, c := range cmds {
			if len(c.Val()) == 0 {
				continue // deleted since the id set was read
			}
			r, err := decode(chunk[i].id, c.Val())
			if err != nil {
				return nil, err
			}
			out = append(out, r.key)
		}
	}
	apikey.SortKeys(out)
	return out, nil
}

// Update is optimistic: read the record and its ver, apply fn, claim any
// new hash, and write with updateScript only if ver has not moved; on a
// lost race, read again and retry. fn may therefore run more than once,
// but never again after its result was written: the script recognises a
// write of this call's (its token) when it runs twice for one attempt.
func (s *Store) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	if !apikey.ValidID(id) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	tenant, err := s.tenant(ctx, id)
	if err != nil {
		return apikey.Key{}, err
	}
	me := owner(id, tenant)
	token := callToken()
	claimed := map[apikey.Hash]bool{} // hash index entries this call wrote
	var final []apikey.Hash           // the hashes of the record written
	defer func() {
		var back []claim
		for h := range claimed {
			if !slices.Contains(final, h) {
				back = append(back, claim{s.keys.hashIndex(h), me})
			}
		}
		s.release(ctx, back...)
	}()
	for attempt := range maxAttempts {
		if attempt > 2 { // contention: let the winners through
			time.Sleep(time.Duration(rand.Int64N(int64(time.Duration(min(attempt, 20)) * 100 * time.Microsecond))))
		}
		cur, err := s.read(ctx, tenant, id)
		if err != nil {
			return apikey.Key{}, err
		}
		next := cur.key.Clone()
		if err := fn(&next); err != nil {
			return apikey.Key{}, err
		}
		if err := apikey.CheckUpdate(&cur.key, &next); err != nil {
			return apikey.Key{}, err
		}
		for _, h := range hashes(&next) {
			if slices.Contains(hashes(&cur.key), h) || claimed[h] {
				continue
			}
			fresh, err := s.claim(ctx, claim{s.keys.hashIndex(h), me})
			if err != nil {
				return apikey.Key{}, err
			}
			if fresh {
				claimed[h] = true
			}
		}
		doc, err := encodeDoc(next)
		if err != nil {
			return apikey.Key{}, err
		}
		res, err := updateScript.Run(ctx, s.rdb, []string{s.keys.record(tenant, id), s.keys.names(tenant)},
			cur.ver, id, next.Name, doc, luField(next.LastUsedAt), token).Slice()
		if err != nil {
			return apikey.Key{}, unavailable(err)
		}
		switch code, _ := res[0].(int64); code {
		case 0:
			continue
		case -1:
			return apikey.Key{}, apikey.ErrNameTaken
		case -2:
			return apikey.Key{}, apikey.ErrNotFound
		}
		lu, _ := res[1].(string)
		if next.LastUsedAt, err = parseLu(lu); err != nil {
			return apikey.Key{}, unavailable(err)
		}
		final = hashes(&next)
		// Drop the index entries of hashes the record no longer holds.
		var dropped []claim
		for _, h := range hashes(&cur.key) {
			if !slices.Contains(final, h) {
				dropped = append(dropped, claim{s.keys.hashIndex(h), me})
			}
		}
		s.release(ctx, dropped...)
		return next, nil
	}
	return apikey.Key{}, unavailable(fmt.Errorf("update of %s lost %d races in a row", id, maxAttempts))
}

// TouchLastUsed raises lu: one pipeline of one script per tenant (after
// one pipeline of id index reads for ids whose tenant is not cached).
func (s *Store) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	var unknown []string
	byTenant := map[string][]string{}
	for id := range used {
		if !apikey.ValidID(id) {
			continue
		}
		if t, ok := s.tenantOf.Load(id); ok {
			byTenant[t.(string)] = append(byTenant[t.(string)], id)
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		cmds := make([]*redis.StringCmd, len(unknown))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range unknown {
				cmds[i] = p.Get(ctx, s.keys.idIndex(id))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return unavailable(err)
		}
		for i, c := range cmds {
			if t, err := c.Result(); err == nil && apikey.ValidTenant(t) {
				byTenant[t] = append(byTenant[t], unknown[i])
			}
		}
	}
	if len(byTenant) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for t, ids := range byTenant {
			keys := make([]string, len(ids))
			args := make([]any, len(ids))
			for i, id := range ids {
				keys[i], args[i] = s.keys.record(t, id), luField(used[id])
			}
			touchScript.Eval(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Delete removes the record and its tenant indexes in one step, then the
// id and hash index entries.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !apikey.ValidID(id) {
		return apikey.ErrNotFound
	}
	tenant, err := s.tenant(ctx, id)
	if err != nil {
		return err
	}
	doc, err := deleteScript.Run(ctx, s.rdb,
		[]string{s.keys.record(tenant, id), s.keys.ids(tenant), s.keys.names(tenant), s.keys.deleted(tenant, id)},
		id, callToken(), deletedFor.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return apikey.ErrNotFound
	}
	if err != nil {
		return unavailable(err)
	}
	back := []claim{{s.keys.idIndex(id), tenant}}
	var k apikey.Key
	if json.Unmarshal([]byte(doc), &k) == nil {
		for _, h := range hashes(&k) {
			back = append(back, claim{s.keys.hashIndex(h), owner(id, tenant)})
		}
	}
	s.release(ctx, back...)
	s.tenantOf.Delete(id)
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close does nothing: the client is the caller's.
func (s *Store) Close() error { return nil }
