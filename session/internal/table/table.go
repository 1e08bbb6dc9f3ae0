// Package table is the compact in-memory session table behind the memory
// store and the Redis store's local mirror.
//
// Sessions live in shards, each a map from id to *Entry under its own
// RWMutex, so readers on different sessions rarely share a lock. An entry
// holds its times as int64 Unix nanoseconds and one pointer to its owner,
// the (tenant, subject) pair that all of that pair's sessions share; the
// owner carries the not-before epochs of mass revocation that apply to it.
// Status, the verify hot path, is one map lookup and two atomic loads.
//
// V is the backend's payload: the memory store keeps the rest of the
// Session there, the Redis mirror keeps nothing (struct{}).
package table

import (
	"hash/maphash"
	"strings"
	"sync"
	"unsafe"
)

const shardCount = 64 // a power of two

// Status is what the table knows about one session id at one instant.
type Status uint8

const (
	// Missing: no entry for the id.
	Missing Status = iota
	// Live: the session may be used.
	Live
	// Expired: ExpiresAt is not after now.
	Expired
	// Revoked: a tombstone. The session was revoked on its own and is kept
	// until it expires so that a later use can be told from an unknown id.
	Revoked
	// Covered: created before a not-before epoch of its tenant, its
	// subject or everything.
	Covered
)

// Entry is one session in the table.
type Entry[V any] struct {
	owner   *owner
	Created int64
	Expires int64
	Revoked bool
	Val     V
}

// Tenant is the entry's tenant.
func (e *Entry[V]) Tenant() string { return e.owner.tenant.name }

// Subject is the entry's subject.
func (e *Entry[V]) Subject() string { return e.owner.subject }

// Record is an Entry as it goes in and out of the table.
type Record[V any] struct {
	Tenant, Subject string
	Created         int64
	Expires         int64
	Revoked         bool
	Val             V
}

// Table is safe for concurrent use.
type Table[V any] struct {
	seed   maphash.Seed
	scopes scopes
	shards [shardCount]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]*Entry[V]
	// Keep each shard's lock on its own cache line: a reader's atomic add
	// on one shard must not slow readers of the next.
	_ [(64 - (unsafe.Sizeof(sync.RWMutex{})+8)%64) % 64]byte
}

// New returns an empty table.
func New[V any]() *Table[V] {
	t := &Table[V]{seed: maphash.MakeSeed()}
	t.scopes.init()
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Entry[V])
	}
	return t
}

func (t *Table[V]) shard(id string) *shard[V] {
	return &t.shards[maphash.String(t.seed, id)&(shardCount-1)]
}

func (t *Table[V]) status(e *Entry[V], now int64) Status {
	switch {
	case e == nil:
		return Missing
	case e.Expires <= now:
		return Expired
	case e.Revoked:
		return Revoked
	case t.scopes.covers(e.owner, e.Created):
		return Covered
	}
	return Live
}

// Status reports the state of id at now. It evicts an expired entry on the
// way out. It allocates nothing.
func (t *Table[V]) Status(id string, now int64) Status {
	sh := t.shard(id)
	sh.mu.RLock()
	e := sh.m[id]
	st := t.status(e, now)
	sh.mu.RUnlock()
	if st == Expired {
		t.evict(sh, id, e, now)
	}
	return st
}

// evict removes e if it is still id's entry and still expired at now.
func (t *Table[V]) evict(sh *shard[V], id string, e *Entry[V], now int64) {
	sh.mu.Lock()
	if cur := sh.m[id]; cur == e && e.Expires <= now {
		delete(sh.m, id)
		e.owner.refs.Add(-1)
	}
	sh.mu.Unlock()
}

func (t *Table[V]) record(e *Entry[V]) Record[V] {
	return Record[V]{
		Tenant: e.owner.tenant.name, Subject: e.owner.subject,
		Created: e.Created, Expires: e.Expires, Revoked: e.Revoked, Val: e.Val,
	}
}

// Get returns id's entry, if any, and its status at now, evicting it if it
// expired.
func (t *Table[V]) Get(id string, now int64) (Record[V], Status) {
	sh := t.shard(id)
	sh.mu.RLock()
	e := sh.m[id]
	st := t.status(e, now)
	var r Record[V]
	if e != nil {
		r = t.record(e)
	}
	sh.mu.RUnlock()
	if st == Expired {
		t.evict(sh, id, e, now)
	}
	return r, st
}

// Insert adds id unless an entry for it exists that has not expired by
// r.Created. It reports whether it added the entry. The table keeps its
// own copies of id, tenant and subject; strings inside r.Val are the
// caller's to copy.
func (t *Table[V]) Insert(id string, r Record[V]) bool {
	o := t.scopes.acquire(r.Tenant, r.Subject)
	sh := t.shard(id)
	sh.mu.Lock()
	if old := sh.m[id]; old != nil {
		if old.Expires > r.Created {
			sh.mu.Unlock()
			o.refs.Add(-1)
			return false
		}
		delete(sh.m, id)
		old.owner.refs.Add(-1)
	}
	sh.m[strings.Clone(id)] = &Entry[V]{owner: o, Created: r.Created, Expires: r.Expires, Revoked: r.Revoked, Val: r.Val}
	sh.mu.Unlock()
	return true
}

// Put sets id's entry to r if ok, called under the shard's write lock,
// reports true. A tombstone stays a tombstone: Put never brings a revoked
// session back. Put reports whether it wrote.
func (t *Table[V]) Put(id string, r Record[V], ok func() bool) bool {
	o := t.scopes.acquire(r.Tenant, r.Subject)
	sh := t.shard(id)
	sh.mu.Lock()
	old := sh.m[id]
	if (old != nil && old.Revoked && !r.Revoked) || (ok != nil && !ok()) {
		sh.mu.Unlock()
		o.refs.Add(-1)
		return false
	}
	if old != nil {
		old.owner.refs.Add(-1)
		old.owner, old.Created, old.Expires, old.Revoked, old.Val = o, r.Created, r.Expires, r.Revoked, r.Val
	} else {
		sh.m[strings.Clone(id)] = &Entry[V]{owner: o, Created: r.Created, Expires: r.Expires, Revoked: r.Revoked, Val: r.Val}
	}
	sh.mu.Unlock()
	return true
}

// Modify calls fn under the write lock of id's shard with id's entry (nil
// when missing) and its status at now. fn may change the entry's Expires,
// Revoked and Val; when it returns true the entry is removed.
func (t *Table[V]) Modify(id string, now int64, fn func(e *Entry[V], st Status) (remove bool)) {
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[id]
	if fn(e, t.status(e, now)) && e != nil {
		delete(sh.m, id)
		e.owner.refs.Add(-1)
	}
}

// Select calls fn, under a read lock, for each live entry at now that
// matches tenant and subject (an empty one matches everything). fn must
// not call the table.
func (t *Table[V]) Select(tenant, subject string, now int64, fn func(id string, r Record[V])) {
	var wantT *tenantScope
	var wantO *owner
	switch {
	case tenant != "" && subject != "":
		if _, wantO = t.scopes.lookup(Subject(tenant, subject)); wantO == nil {
			return
		}
	case tenant != "":
		if wantT, _ = t.scopes.lookup(Tenant(tenant)); wantT == nil {
			return
		}
	}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for id, e := range sh.m {
			switch {
			case wantO != nil && e.owner != wantO,
				wantT != nil && e.owner.tenant != wantT,
				subject != "" && e.owner.subject != subject,
				t.status(e, now) != Live:
				continue
			}
			fn(id, t.record(e))
		}
		sh.mu.RUnlock()
	}
}

// Raise moves sc's not-before epoch forward to at; it never moves back.
// Every session of sc created before at is Covered from now on. Raise
// returns the epoch sc had before.
func (t *Table[V]) Raise(sc Scope, at int64) (old int64) {
	old, _, _ = t.scopes.raise(sc, at)
	return old
}

// Revoke raises sc's epoch to at and removes the entries it covers. It
// returns how many of them were live at at, the instant of the
// revocation: not expired then, not revoked on their own, and not already
// covered by an earlier epoch.
func (t *Table[V]) Revoke(sc Scope, at int64) (ended int) {
	old, ts, os := t.scopes.raise(sc, at)
	inScope := func(e *Entry[V]) bool {
		switch sc.kind {
		case scopeTenant:
			return e.owner.tenant == ts
		case scopeSubject:
			return e.owner == os
		}
		return true
	}
	// prior is the epoch that covered e before this revocation: the
	// current ones, with this scope's own taken back to old.
	prior := func(e *Entry[V]) int64 {
		g, tn, on := t.scopes.global.Load(), e.owner.tenant.notBefore.Load(), e.owner.own.Load()
		switch sc.kind {
		case scopeAll:
			g = old
		case scopeTenant:
			tn = old
		case scopeSubject:
			on = old
		}
		return max(g, tn, on)
	}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if e.Created >= at || !inScope(e) {
				continue
			}
			if !e.Revoked && e.Expires > at && e.Created >= prior(e) {
				ended++
			}
			delete(sh.m, id)
			e.owner.refs.Add(-1)
		}
		sh.mu.Unlock()
	}
	return ended
}

// Floor is the not-before epoch that applies to the sessions of subject in
// tenant: one created before it is dead.
func (t *Table[V]) Floor(tenant, subject string) int64 { return t.scopes.floor(tenant, subject) }

// FloorBefore is Floor(tenant, subject) as it was before sc's epoch was
// raised from old, for counting the sessions a revocation ended: one that
// an earlier epoch covered was not live.
func (t *Table[V]) FloorBefore(sc Scope, old int64, tenant, subject string) int64 {
	return t.scopes.floorBefore(sc, old, tenant, subject)
}

// Sweep removes the entries that are expired at now or covered by an
// epoch, forgets owners no entry needs, and returns how many entries it
// removed.
func (t *Table[V]) Sweep(now int64) (removed int) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if st := t.status(e, now); st == Expired || st == Covered {
				delete(sh.m, id)
				e.owner.refs.Add(-1)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	t.scopes.prune()
	return removed
}

// Clear removes every entry. Epochs stay: they only ever rise.
func (t *Table[V]) Clear() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			e.owner.refs.Add(-1)
		}
		clear(sh.m)
		sh.mu.Unlock()
	}
	t.scopes.prune()
}

// Len returns the number of entries, live or not yet evicted.
func (t *Table[V]) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Scopes returns the number of registered owners ((tenant, subject) pairs)
// and tenants, for tests of pruning.
func (t *Table[V]) Scopes() (owners, tenants int) { return t.scopes.size() }
