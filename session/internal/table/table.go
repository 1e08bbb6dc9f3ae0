// Package table is the compact in-memory session table behind the memory
// store and the Redis store's local mirror.
//
// Sessions live in shards, each under its own RWMutex, so readers on
// different sessions rarely share a lock. A shard keeps its entries by
// value in fixed-size chunks (an arena whose slots are reused through a
// free list) and indexes them by id: a canonical id — 22 characters of
// unpadded base64url, 128 bits, the form every id this service mints has
// — is held as its 16 decoded bytes in a map[[16]byte]uint32; any other
// id falls back to a map keyed by the string. An entry holds its times as
// int64 Unix nanoseconds and one pointer to its owner, the (tenant,
// subject) pair that all of that pair's sessions share; the owner and its
// tenant carry the not-before epochs of mass revocation. Status, the
// verify hot path, is one base64 decode, one map lookup and three atomic
// loads.
//
// A counting table (NewCounting) also keeps, per owner, per tenant and in
// all, how many entries are live (see Revoke), so that a mass revocation
// sets one epoch and reads one counter instead of visiting the sessions
// it ends. The entries it covers stay until Sweep, or a later use, removes
// them.
//
// V is the backend's payload: the memory store keeps the rest of the
// Session there, the Redis mirror keeps nothing (struct{}).
package table

import (
	"encoding/base64"
	"hash/maphash"
	"math"
	"strings"
	"sync"
)

const (
	shardCount = 64 // a power of two
	chunkBits  = 8
	chunkSize  = 1 << chunkBits
)

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

// Entry is one session in the table. Entries are held by value in their
// shard's arena; a *Entry is valid only while the table hands it out.
type Entry[V any] struct {
	owner   *owner // nil: a free slot
	Created int64
	Expires int64
	hidx    int32 // index in the shard's expiry heap; -1 when not in it
	Revoked bool
	// expired: Expires is not after the shard's watermark, so the entry
	// is no longer counted (counting tables only).
	expired bool
	strID   bool     // the id is not canonical: see shard.strOf
	key     [16]byte // the decoded id, when canonical
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
	seed     maphash.Seed
	counting bool
	scopes   scopes
	shards   [shardCount]shard[V]
}

// Lock order: a shard's mu (shards in index order), then scopes.mu.
type shard[V any] struct {
	mu     sync.RWMutex
	byKey  map[[16]byte]uint32 // canonical ids
	byStr  map[string]uint32   // other ids; made on first use
	strOf  map[uint32]string   // slot → id, for byStr's entries
	chunks []*[chunkSize]Entry[V]
	free   []uint32 // released slots
	used   uint32   // slots ever handed out
	count  int      // entries held
	// heap orders the slots of the counting table by Expires; wm is the
	// instant up to which expiries were taken out of the counters. Both
	// are written holding mu and scopes.mu.
	heap []uint32
	wm   int64
	// Keep each shard's lock on its own cache line.
	_ [64]byte
}

// New returns an empty table.
func New[V any]() *Table[V] {
	t := &Table[V]{seed: maphash.MakeSeed()}
	t.scopes.init()
	for i := range t.shards {
		t.shards[i].byKey = make(map[[16]byte]uint32)
		t.shards[i].wm = none
	}
	return t
}

// NewCounting returns an empty table that keeps live counters, so that
// Revoke costs the same whatever the number of sessions it ends.
func NewCounting[V any]() *Table[V] {
	t := New[V]()
	t.counting = true
	return t
}

// key is a parsed id.
type key struct {
	s     string
	k     [16]byte
	canon bool
}

// decode maps a base64url character to its 6 bits; 0xff for any other.
var decode = func() (d [256]uint8) {
	for i := range d {
		d[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		d[alphabet[i]] = uint8(i)
	}
	return d
}()

// parse decodes id when it is canonical: 22 characters of unpadded
// base64url whose last character's unused 4 bits are zero, so that every
// 16 bytes have exactly one such id. It is Status's first step, so it is
// written out rather than left to encoding/base64.
func parse(id string) key {
	k := key{s: id}
	if len(id) != 22 {
		return k
	}
	_ = id[21] // one bounds check for all
	var bad uint8
	for g := 0; g < 5; g++ { // five groups of 4 characters → 3 bytes
		c0, c1, c2, c3 := decode[id[4*g]], decode[id[4*g+1]], decode[id[4*g+2]], decode[id[4*g+3]]
		bad |= c0 | c1 | c2 | c3
		v := uint32(c0)<<18 | uint32(c1)<<12 | uint32(c2)<<6 | uint32(c3)
		k.k[3*g], k.k[3*g+1], k.k[3*g+2] = byte(v>>16), byte(v>>8), byte(v)
	}
	a, b := decode[id[20]], decode[id[21]]
	bad |= a | b
	k.k[15] = a<<2 | b>>4
	k.canon = bad&0xc0 == 0 && b&0x0f == 0
	return k
}

func (t *Table[V]) shard(id string) *shard[V] {
	return &t.shards[maphash.String(t.seed, id)&(shardCount-1)]
}

func (sh *shard[V]) at(i uint32) *Entry[V] { return &sh.chunks[i>>chunkBits][i&(chunkSize-1)] }

// find returns k's slot and entry, or a nil entry.
func (sh *shard[V]) find(k *key) (uint32, *Entry[V]) {
	var i uint32
	var ok bool
	if k.canon {
		i, ok = sh.byKey[k.k]
	} else if sh.byStr != nil {
		i, ok = sh.byStr[k.s]
	}
	if !ok {
		return 0, nil
	}
	return i, sh.at(i)
}

// add takes a slot for k and indexes it. The caller fills the entry in.
func (sh *shard[V]) add(k *key) (uint32, *Entry[V]) {
	var i uint32
	if n := len(sh.free); n > 0 {
		i, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		i = sh.used
		sh.used++
		if int(i>>chunkBits) == len(sh.chunks) {
			sh.chunks = append(sh.chunks, new([chunkSize]Entry[V]))
		}
	}
	e := sh.at(i)
	e.hidx = -1
	if k.canon {
		e.key = k.k
		sh.byKey[k.k] = i
	} else {
		if sh.byStr == nil {
			sh.byStr, sh.strOf = make(map[string]uint32), make(map[uint32]string)
		}
		s := strings.Clone(k.s)
		e.strID = true
		sh.byStr[s], sh.strOf[i] = i, s
	}
	sh.count++
	return i, e
}

// drop unindexes slot i and frees it. The caller has settled its counters.
func (sh *shard[V]) drop(i uint32, e *Entry[V]) {
	if e.strID {
		delete(sh.byStr, sh.strOf[i])
		delete(sh.strOf, i)
	} else {
		delete(sh.byKey, e.key)
	}
	if e.hidx >= 0 {
		sh.hremove(int(e.hidx))
	}
	*e = Entry[V]{}
	sh.free = append(sh.free, i)
	sh.count--
}

func (sh *shard[V]) id(i uint32, e *Entry[V]) string {
	if e.strID {
		return sh.strOf[i]
	}
	return base64.RawURLEncoding.EncodeToString(e.key[:])
}

// all calls fn for every held entry.
func (sh *shard[V]) all(fn func(i uint32, e *Entry[V])) {
	for c, chunk := range sh.chunks {
		for j := range chunk {
			i := uint32(c<<chunkBits | j)
			if i >= sh.used {
				return
			}
			if e := &chunk[j]; e.owner != nil {
				fn(i, e)
			}
		}
	}
}

// The expiry heap: a binary min-heap of slots by Expires.

func (sh *shard[V]) less(a, b int) bool { return sh.at(sh.heap[a]).Expires < sh.at(sh.heap[b]).Expires }

func (sh *shard[V]) swap(a, b int) {
	sh.heap[a], sh.heap[b] = sh.heap[b], sh.heap[a]
	sh.at(sh.heap[a]).hidx = int32(a)
	sh.at(sh.heap[b]).hidx = int32(b)
}

func (sh *shard[V]) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !sh.less(j, p) {
			return
		}
		sh.swap(j, p)
		j = p
	}
}

func (sh *shard[V]) down(j int) bool {
	j0, n := j, len(sh.heap)
	for {
		c := 2*j + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && sh.less(r, c) {
			c = r
		}
		if !sh.less(c, j) {
			break
		}
		sh.swap(j, c)
		j = c
	}
	return j > j0
}

func (sh *shard[V]) push(i uint32) {
	sh.heap = append(sh.heap, i)
	j := len(sh.heap) - 1
	sh.at(i).hidx = int32(j)
	sh.up(j)
}

func (sh *shard[V]) hremove(j int) {
	n := len(sh.heap) - 1
	if j != n {
		sh.swap(j, n)
	}
	sh.at(sh.heap[n]).hidx = -1
	sh.heap = sh.heap[:n]
	if j != n && !sh.down(j) {
		sh.up(j)
	}
}

func (sh *shard[V]) hfix(j int) {
	if !sh.down(j) {
		sh.up(j)
	}
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

// countable reports whether e is counted, but for an epoch covering it.
func countable[V any](e *Entry[V]) bool { return !e.Revoked && !e.expired }

// track puts a new or changed entry into the expiry heap and the
// counters. Under sh.mu and scopes.mu.
func (t *Table[V]) track(sh *shard[V], i uint32, e *Entry[V]) {
	if !t.counting {
		return
	}
	if e.Expires <= sh.wm {
		e.expired = true
		return
	}
	sh.push(i)
	if !e.Revoked && !t.scopes.covers(e.owner, e.Created) {
		t.scopes.count(e.owner, e.Created)
	}
}

// release removes entry i, settling its counters. Under sh.mu and
// scopes.mu.
func (t *Table[V]) release(sh *shard[V], i uint32, e *Entry[V]) {
	if t.counting && countable(e) && !t.scopes.covers(e.owner, e.Created) {
		t.scopes.uncount(e.owner)
	}
	e.owner.refs--
	sh.drop(i, e)
}

// Status reports the state of id at now. It evicts an expired entry on the
// way out. It allocates nothing.
func (t *Table[V]) Status(id string, now int64) Status {
	k := parse(id)
	sh := t.shard(id)
	sh.mu.RLock()
	_, e := sh.find(&k)
	st := t.status(e, now)
	sh.mu.RUnlock()
	if st == Expired {
		t.evict(sh, &k, now)
	}
	return st
}

// evict removes k's entry if it is expired at now.
func (t *Table[V]) evict(sh *shard[V], k *key, now int64) {
	sh.mu.Lock()
	if i, e := sh.find(k); e != nil && e.Expires <= now {
		t.scopes.mu.Lock()
		t.release(sh, i, e)
		t.scopes.mu.Unlock()
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
	k := parse(id)
	sh := t.shard(id)
	sh.mu.RLock()
	_, e := sh.find(&k)
	st := t.status(e, now)
	var r Record[V]
	if e != nil {
		r = t.record(e)
	}
	sh.mu.RUnlock()
	if st == Expired {
		t.evict(sh, &k, now)
	}
	return r, st
}

// Insert adds id unless an entry for it exists that has not expired by
// r.Created. It reports whether it added the entry. The table keeps its
// own copies of id, tenant and subject; strings inside r.Val are the
// caller's to copy.
func (t *Table[V]) Insert(id string, r Record[V]) bool {
	k := parse(id)
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.scopes.mu.Lock()
	defer t.scopes.mu.Unlock()
	if i, old := sh.find(&k); old != nil {
		if old.Expires > r.Created {
			return false
		}
		t.release(sh, i, old)
	}
	t.insertLocked(sh, &k, r)
	return true
}

func (t *Table[V]) insertLocked(sh *shard[V], k *key, r Record[V]) {
	o := t.scopes.ownerLocked(r.Tenant, r.Subject)
	o.refs++
	i, e := sh.add(k)
	e.owner, e.Created, e.Expires, e.Revoked, e.Val = o, r.Created, r.Expires, r.Revoked, r.Val
	t.track(sh, i, e)
}

// Put sets id's entry to r if ok, called under the shard's write lock,
// reports true. A tombstone stays a tombstone: Put never brings a revoked
// session back. Put reports whether it wrote.
func (t *Table[V]) Put(id string, r Record[V], ok func() bool) bool {
	k := parse(id)
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.scopes.mu.Lock()
	defer t.scopes.mu.Unlock()
	i, old := sh.find(&k)
	if (old != nil && old.Revoked && !r.Revoked) || (ok != nil && !ok()) {
		return false
	}
	if old != nil {
		t.release(sh, i, old)
	}
	t.insertLocked(sh, &k, r)
	return true
}

// Modify calls fn under the write lock of id's shard with id's entry (nil
// when missing) and its status at now. fn may change the entry's Expires,
// Revoked and Val; when it returns true the entry is removed. fn must not
// call the table.
func (t *Table[V]) Modify(id string, now int64, fn func(e *Entry[V], st Status) (remove bool)) {
	k := parse(id)
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, e := sh.find(&k)
	if e == nil {
		fn(nil, Missing)
		return
	}
	wasCountable, oldExpires := countable(e), e.Expires
	remove := fn(e, t.status(e, now))
	t.scopes.mu.Lock()
	defer t.scopes.mu.Unlock()
	if remove {
		// release judges countable by the entry as fn left it.
		e.Revoked, e.expired = !wasCountable, false
		t.release(sh, i, e)
		return
	}
	if !t.counting {
		return
	}
	if e.Expires != oldExpires {
		if e.Expires <= sh.wm {
			if e.hidx >= 0 {
				sh.hremove(int(e.hidx))
			}
			e.expired = true
		} else {
			if e.hidx >= 0 {
				sh.hfix(int(e.hidx))
			} else {
				sh.push(i)
			}
			e.expired = false
		}
	}
	// An epoch that covers e now already took it out of the counters (if
	// it was in them), and epochs only rise: only an uncovered entry's
	// change moves a counter.
	if now := countable(e); now != wasCountable && !t.scopes.covers(e.owner, e.Created) {
		if now {
			t.scopes.count(e.owner, e.Created)
		} else {
			t.scopes.uncount(e.owner)
		}
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
	for s := range t.shards {
		sh := &t.shards[s]
		sh.mu.RLock()
		sh.all(func(i uint32, e *Entry[V]) {
			switch {
			case wantO != nil && e.owner != wantO,
				wantT != nil && e.owner.tenant != wantT,
				subject != "" && e.owner.subject != subject,
				t.status(e, now) != Live:
				return
			}
			fn(sh.id(i, e), t.record(e))
		})
		sh.mu.RUnlock()
	}
}

// Raise moves sc's not-before epoch forward to at; it never moves back.
// Every session of sc created before at is Covered from now on. Raise
// returns the epoch sc had before.
func (t *Table[V]) Raise(sc Scope, at int64) (old int64) {
	if t.counting {
		old, _ = t.revoke(sc, at)
		return old
	}
	t.scopes.mu.Lock()
	defer t.scopes.mu.Unlock()
	cell := t.scopes.cellLocked(sc)
	old = cell.Load()
	raiseTo(cell, at)
	return old
}

// Revoke raises sc's epoch to at and returns how many of the entries it
// covers were live at at, the instant of the revocation: created before
// at, not expired then, not revoked on their own, and not already covered
// by an earlier epoch. It removes nothing: the covered entries are dead
// from now on, and Sweep (or their next use) removes them.
//
// On a counting table Revoke costs O(shards), whatever the number of
// sessions in sc, when at is not before any instant an earlier Revoke was
// given and no counted session of sc was created at or after at — the
// normal case of a revocation now. Otherwise the count needs the sessions
// themselves, and Revoke visits every entry, as it does on a table that
// does not count.
func (t *Table[V]) Revoke(sc Scope, at int64) (ended int) {
	_, ended = t.revoke(sc, at)
	return ended
}

func (t *Table[V]) revoke(sc Scope, at int64) (old int64, ended int) {
	if t.counting {
		t.advance(at)
		if old, ended, ok := t.fastRevoke(sc, at); ok {
			return old, ended
		}
	}
	return t.slowRevoke(sc, at)
}

// advance takes the entries that expire by at out of the counters.
func (t *Table[V]) advance(at int64) {
	s := &t.scopes
	for n := range t.shards {
		sh := &t.shards[n]
		sh.mu.Lock()
		s.mu.Lock()
		if at > sh.wm {
			sh.wm = at
			for len(sh.heap) > 0 {
				i := sh.heap[0]
				e := sh.at(i)
				if e.Expires > at {
					break
				}
				sh.hremove(0)
				if countable(e) && !s.covers(e.owner, e.Created) {
					s.uncount(e.owner)
				}
				e.expired = true
			}
		}
		s.mu.Unlock()
		sh.mu.Unlock()
	}
}

// fastRevoke is Revoke from the counters. It reports false, having changed
// nothing, when they cannot answer.
func (t *Table[V]) fastRevoke(sc Scope, at int64) (old int64, ended int, ok bool) {
	s := &t.scopes
	s.mu.Lock()
	defer s.mu.Unlock()
	// Every counted entry must expire after at, and every entry that is
	// live at at must be counted: each shard's watermark is exactly at.
	for n := range t.shards {
		if t.shards[n].wm != at {
			return 0, 0, false
		}
	}
	cell := s.cellLocked(sc)
	old = cell.Load()
	if at <= old {
		return old, 0, true // an epoch at least as late covers them all
	}
	switch sc.kind {
	case scopeAll:
		if s.gen == math.MaxUint32 || (s.live > 0 && s.maxCreated >= at) {
			return 0, 0, false
		}
		ended = s.live
		cell.Store(at)
		s.gen++
		s.live, s.maxCreated = 0, none
	case scopeTenant:
		tn := s.tenants[sc.tenant]
		s.normTenant(tn)
		if tn.gen == math.MaxUint32 || (tn.live > 0 && tn.maxCreated >= at) {
			return 0, 0, false
		}
		ended = tn.live
		cell.Store(at)
		tn.gen++
		tn.live, tn.maxCreated = 0, none
		s.live -= ended
	case scopeSubject:
		o := s.tenants[sc.tenant].owners[sc.subject]
		s.normOwner(o)
		if o.live > 0 && o.tenant.maxCreated >= at {
			return 0, 0, false
		}
		ended = int(o.live)
		cell.Store(at)
		o.live = 0
		o.tenant.live -= ended
		s.live -= ended
	}
	return old, ended, true
}

// slowRevoke is Revoke by visiting every entry, with every shard locked.
// A counting table then counts again from scratch.
func (t *Table[V]) slowRevoke(sc Scope, at int64) (old int64, ended int) {
	for n := range t.shards {
		t.shards[n].mu.Lock()
	}
	s := &t.scopes
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		for n := range t.shards {
			t.shards[n].mu.Unlock()
		}
	}()
	cell := s.cellLocked(sc)
	old = cell.Load()
	if at <= old {
		return old, 0
	}
	var wantT *tenantScope
	var wantO *owner
	switch sc.kind {
	case scopeTenant:
		wantT = s.tenants[sc.tenant]
	case scopeSubject:
		wantO = s.tenants[sc.tenant].owners[sc.subject]
	}
	for n := range t.shards {
		t.shards[n].all(func(_ uint32, e *Entry[V]) {
			if (wantT != nil && e.owner.tenant != wantT) || (wantO != nil && e.owner != wantO) {
				return
			}
			if e.Created < at && !e.Revoked && e.Expires > at && !s.covers(e.owner, e.Created) {
				ended++
			}
		})
	}
	cell.Store(at)
	if t.counting {
		s.resetCounts()
		for n := range t.shards {
			t.shards[n].all(func(_ uint32, e *Entry[V]) {
				if countable(e) && !s.covers(e.owner, e.Created) {
					s.count(e.owner, e.Created)
				}
			})
		}
	}
	return old, ended
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
// epoch (tombstones included), forgets owners no entry needs, and returns how many entries it
// removed.
func (t *Table[V]) Sweep(now int64) (removed int) {
	removed = t.sweep(now)
	t.scopes.prune(none)
	return removed
}

func (t *Table[V]) sweep(now int64) (removed int) {
	for n := range t.shards {
		sh := &t.shards[n]
		sh.mu.Lock()
		t.scopes.mu.Lock()
		sh.all(func(i uint32, e *Entry[V]) {
			// A tombstone that an epoch covers is dead by the epoch too.
			if st := t.status(e, now); st == Expired || st == Covered || (st == Revoked && t.scopes.covers(e.owner, e.Created)) {
				t.release(sh, i, e)
				removed++
			}
		})
		t.scopes.mu.Unlock()
		sh.mu.Unlock()
	}
	return removed
}

// Forget sweeps at now, as Sweep does, and then also forgets the epochs
// of subjects and tenants that no entry needs any more and that are before
// before: the memory of mass revocations stays bounded by the revocations
// made since before, not every one ever made. It returns how many entries
// it removed.
//
// The caller vouches that every session created before before has expired
// by now (sessions live at most a known lifetime, and before is at least
// that far back), so an epoch that old covers nothing an entry could still
// be used for: forgetting it changes no answer. An owner that still has
// entries keeps its epoch, whatever its age, so no counter is judged by
// an epoch that moved under it.
func (t *Table[V]) Forget(now, before int64) (removed int) {
	removed = t.sweep(now)
	t.scopes.prune(before)
	return removed
}

// Clear removes every entry. Epochs stay: they only ever rise.
func (t *Table[V]) Clear() {
	for n := range t.shards {
		sh := &t.shards[n]
		sh.mu.Lock()
		t.scopes.mu.Lock()
		sh.all(func(i uint32, e *Entry[V]) { t.release(sh, i, e) })
		t.scopes.mu.Unlock()
		sh.mu.Unlock()
	}
	t.scopes.prune(none)
}

// Len returns the number of entries, live or not yet evicted.
func (t *Table[V]) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += sh.count
		sh.mu.RUnlock()
	}
	return n
}

// Scopes returns the number of registered owners ((tenant, subject) pairs)
// and tenants, for tests of pruning.
func (t *Table[V]) Scopes() (owners, tenants int) { return t.scopes.size() }

// Live returns the counters of a counting table: the live entries in all,
// of tenant, and of subject in tenant, as far as the last Revoke's
// watermark goes. For tests.
func (t *Table[V]) Live(tenant, subject string) (all, ofTenant, ofSubject int) {
	s := &t.scopes
	s.mu.Lock()
	defer s.mu.Unlock()
	if tn := s.tenants[tenant]; tn != nil {
		s.normTenant(tn)
		ofTenant = tn.live
		if o := tn.owners[subject]; o != nil {
			s.normOwner(o)
			ofSubject = int(o.live)
		}
	}
	return s.live, ofTenant, ofSubject
}
