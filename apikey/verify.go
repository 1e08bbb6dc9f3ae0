package apikey

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
)

// Identity is what Verify learns about the caller: the key's id (the
// subject of its requests), tenant, name, scopes and roles. Its slices
// are shared with the Manager's index and must not be modified; append
// copies (their capacity equals their length).
type Identity struct {
	ID     string
	Tenant string
	Name   string
	Scopes []string
	Roles  []string
	// ExpiresAt is when the presented secret stops being valid: the key's
	// expiry, or the grace deadline of a previous secret, whichever is
	// first. Zero: never.
	ExpiresAt time.Time
}

// Principal returns the caller as a relayauth.Principal whose Subject is
// the key's id.
func (id Identity) Principal() *relayauth.Principal {
	return &relayauth.Principal{
		Subject: id.ID, Tenant: id.Tenant,
		Roles: slices.Clone(id.Roles), Scopes: slices.Clone(id.Scopes),
		Method: relayauth.MethodAPIKey, ExpiresAt: id.ExpiresAt,
	}
}

// entry is one key in the index, with everything Verify needs decoded
// ahead. Entries are never changed; apply replaces them. Only use, shared
// by the successive entries of one id, changes.
type entry struct {
	rec       Key
	id        Identity
	hash      Hash
	prev      Hash
	hasPrev   int   // 1 when prev is set (for constant-time selection)
	prevUntil int64 // Unix ns
	expires   int64 // Unix ns; 0 = never
	revoked   bool
	use       *usage
}

// usage is the last use of one key, kept in memory between flushes.
type usage struct {
	last    atomic.Int64 // Unix ns; 0 = unused
	flushed int64        // what the last flush wrote; under Manager.flushMu
}

// touchGranularity: a use within this long of the recorded one is not
// recorded, so concurrent Verifies of one key rarely write its cache line.
const touchGranularity = int64(time.Second)

func (u *usage) touch(now int64) {
	if last := u.last.Load(); now-last >= touchGranularity {
		u.last.CompareAndSwap(last, now) // a lost race means a concurrent, equally recent use
	}
}

func newEntry(k *Key, use *usage) *entry {
	e := &entry{
		rec: k.Clone(),
		id: Identity{
			ID: k.ID, Tenant: k.Tenant, Name: k.Name,
			Scopes: slices.Clip(slices.Clone(k.Scopes)), Roles: slices.Clip(slices.Clone(k.Roles)),
		},
		hash: k.Hash, revoked: k.Revoked(), use: use,
	}
	if !k.PrevHash.IsZero() {
		e.prev, e.hasPrev, e.prevUntil = k.PrevHash, 1, k.PrevValidUntil.UnixNano()
	}
	if !k.ExpiresAt.IsZero() {
		e.expires = k.ExpiresAt.UnixNano()
		e.id.ExpiresAt = time.Unix(0, e.expires)
	}
	return e
}

// apply is the one way the index changes: it makes the entry of id
// reflect k, or, when k is nil, forgets id. Writes through the Manager
// call it after the store accepted them; change propagation
// (propagate.go) calls it the same way for other Managers' changes.
func (m *Manager) apply(id string, k *Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyLocked(id, k)
}

// applyLocal is apply for a change this Manager made: a re-read that
// began before it (on the change's own intent, say) must not undo it.
func (m *Manager) applyLocal(id string, k *Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyLocked(id, k)
	m.markLocalLocked(id)
}

func (m *Manager) markLocalLocked(id string) {
	if m.notifier == nil {
		return // nothing re-reads keys
	}
	if m.local == nil {
		m.local = map[string]uint64{}
	}
	m.local[id] = m.seq
}

// readSeq is the apply count to pass to applyRead, taken before the read.
func (m *Manager) readSeq() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.seq
}

// applyRead is apply for a record read from the store in a read that began
// when the apply count was seen: it is dropped if this Manager applied a
// change of its own to id since (the read may predate that write; a later
// re-read, as every changed key is watched, brings the store's state).
func (m *Manager) applyRead(id string, k *Key, seen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.local[id]; ok {
		if s > seen {
			return
		}
		delete(m.local, id) // this read began after the change: it has it
	}
	m.applyLocked(id, k)
}

func (m *Manager) applyLocked(id string, k *Key) {
	m.seq++
	if m.touched != nil {
		m.touched[id] = struct{}{}
	}
	old := m.byID[id]
	if old != nil {
		delete(m.byHash, old.hash)
		if old.hasPrev == 1 {
			delete(m.byHash, old.prev)
		}
	}
	if k == nil {
		delete(m.byID, id)
		return
	}
	use := new(usage)
	if old != nil {
		use = old.use
	}
	e := newEntry(k, use)
	m.byID[id] = e
	m.byHash[e.hash] = e
	m.misses.forget(e.hash)
	if e.hasPrev == 1 {
		m.byHash[e.prev] = e
		m.misses.forget(e.prev)
	}
}

// revokeLocally marks a key revoked in the index only, for when the store
// could not record the revocation.
func (m *Manager) revokeLocally(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byID[id]; e != nil {
		k := e.rec.Clone()
		if !k.Revoked() {
			k.RevokedAt = m.stamp()
		}
		m.applyLocked(id, &k)
		m.markLocalLocked(id)
	}
}

// Verify checks a presented key and returns who it belongs to. This is
// the hot path, and allocates nothing when it succeeds:
//
//  1. Parse: shape and checksum. A typo or a made-up key fails here,
//     before any lookup (ErrMalformed, ErrChecksum); a key of the other
//     environment fails next (ErrWrongEnvironment).
//  2. SHA-256 of the key, looked up in the in-memory index; a miss asks
//     the store once (see WithNegativeCache and WithStoreLookupLimit).
//  3. The hashes are compared in constant time, then revocation, expiry
//     and, for a previous secret, its grace deadline are checked
//     (ErrUnknownKey, ErrRevoked, ErrExpired). With the default clock,
//     deadlines are judged on a copy of the clock refreshed every 10ms,
//     so they may pass up to about 10ms late (an injected clock is read on
//     every call).
//  4. The use is recorded in memory; the flusher writes it later.
//
// ErrUnavailable when the key had to be looked up and the store failed,
// and, on a Notifier store, for every key while the Manager cannot confirm
// that its index holds every change (see WithFreshness).
func (m *Manager) Verify(ctx context.Context, raw string) (Identity, error) {
	p, err := Parse(raw)
	if err != nil {
		return Identity{}, err
	}
	if p.Env != m.env {
		return Identity{}, ErrWrongEnvironment
	}
	now := m.nowNanos()
	if m.notifier != nil && now > m.prop.freshUntil.Load() {
		return Identity{}, errStale
	}
	h := p.Hash()
	m.mu.RLock()
	e := m.byHash[h]
	m.mu.RUnlock()
	if e == nil {
		if e, err = m.lookup(ctx, h, now); err != nil {
			return Identity{}, err
		}
	}
	return e.check(&h, now)
}

func (e *entry) check(h *Hash, now int64) (Identity, error) {
	cur := hashEqual(&e.hash, h)
	prev := hashEqual(&e.prev, h) & e.hasPrev
	switch {
	case cur|prev == 0:
		return Identity{}, ErrUnknownKey
	case e.revoked:
		return Identity{}, ErrRevoked
	case e.expires != 0 && now >= e.expires:
		return Identity{}, ErrExpired
	case cur == 0 && now >= e.prevUntil:
		return Identity{}, ErrExpired
	}
	e.use.touch(now)
	if cur == 0 && (e.expires == 0 || e.prevUntil < e.expires) {
		id := e.id
		id.ExpiresAt = time.Unix(0, e.prevUntil)
		return id, nil
	}
	return e.id, nil
}

// hashEqual returns 1 when a and b are equal and 0 otherwise, in time
// that does not depend on where they differ. (subtle.ConstantTimeCompare
// does the same a byte at a time; this is a word at a time.)
func hashEqual(a, b *Hash) int {
	var x uint64
	for i := 0; i < len(a); i += 8 {
		x |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return int(uint64(subtle.ConstantTimeEq(int32(uint32(x)|uint32(x>>32)), 0)))
}

// lookup asks the store about a hash the index does not hold. Concurrent
// lookups of one hash share one store read.
func (m *Manager) lookup(ctx context.Context, h Hash, now int64) (*entry, error) {
	e, err := m.flight.Do(ctx, h, func() (*entry, error) {
		m.mu.RLock()
		e, seen := m.byHash[h], m.seq
		m.mu.RUnlock()
		if e != nil {
			return e, nil // added since the caller looked
		}
		if !m.misses.admit(h, now) {
			return nil, ErrUnknownKey
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		k, err := m.store.GetByHash(lctx, h)
		switch {
		case errors.Is(err, ErrNotFound):
			m.misses.remember(h, now)
			return nil, ErrUnknownKey
		case err != nil:
			m.log.LogAttrs(ctx, slog.LevelWarn, "api key lookup failed", slog.Any("error", err))
			if !errors.Is(err, relayauth.ErrUnavailable) {
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return nil, err
		}
		return m.cache(&k, h, seen), nil
	})
	if err != nil && !errors.Is(err, relayauth.ErrUnauthenticated) && !errors.Is(err, relayauth.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err) // the caller's context ended while waiting
	}
	return e, err
}

// cache adds a record read from the store to the index, unless the index
// changed since the read began (seen): then a write through this Manager
// raced with the read, and the record may be older than what the index
// holds, so the index is asked again and the record only judges this one
// Verify.
func (m *Manager) cache(k *Key, h Hash, seen uint64) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seq == seen {
		m.applyLocked(k.ID, k)
		return m.byID[k.ID]
	}
	if e := m.byHash[h]; e != nil {
		return e
	}
	use := new(usage)
	if old := m.byID[k.ID]; old != nil {
		use = old.use
	}
	return newEntry(k, use)
}

// misses holds what Verify knows about hashes missing from the index: a
// bounded, expiring set of hashes the store did not know, and a token
// bucket that limits store lookups.
type misses struct {
	mu     sync.Mutex
	neg    map[Hash]int64 // hash → until (Unix ns)
	negMax int
	negTTL int64
	rate   float64 // tokens per ns; 0 = no limit
	burst  float64
	tokens float64
	last   int64
}

func (c *misses) init(size int, ttl time.Duration, perSecond int, now int64) {
	c.neg, c.negMax, c.negTTL = map[Hash]int64{}, size, int64(ttl)
	c.rate, c.burst = float64(perSecond)/1e9, float64(perSecond)
	c.tokens, c.last = c.burst, now
}

// admit reports whether a store lookup of h may happen now: h is not a
// recent miss, and the lookup budget is not spent.
func (c *misses) admit(h Hash, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.neg[h]; ok {
		if now < until {
			return false
		}
		delete(c.neg, h)
	}
	if c.rate == 0 {
		return true
	}
	if now > c.last {
		c.tokens = min(c.burst, c.tokens+float64(now-c.last)*c.rate)
		c.last = now
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *misses) remember(h Hash, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.negMax == 0 || c.negTTL == 0 {
		return
	}
	if len(c.neg) >= c.negMax {
		for old := range c.neg { // an arbitrary one: map order is random
			delete(c.neg, old)
			break
		}
	}
	c.neg[h] = now + c.negTTL
}

func (c *misses) forget(h Hash) {
	c.mu.Lock()
	delete(c.neg, h)
	c.mu.Unlock()
}

func (c *misses) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.neg)
}
