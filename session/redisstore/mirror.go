package redisstore

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/relayauth/relayauth/session/internal/table"
)

// mirror is the local copy of session state that Check answers from: the
// sessions this store created or loaded (with only what Check needs:
// owner, CreatedAt, ExpiresAt, a revoked flag), every not-before epoch,
// and a short, bounded memory of ids that Redis did not know.
//
// Every change goes through apply. Its callers are this store's own
// writes, the reconciliation loop, and the subscriber that carries every
// instance's revocations (propagate.go).
type mirror struct {
	t *table.Table[struct{}]
	// rev counts the changes that can kill a session. A reader that
	// loaded a session from Redis stores it only if rev did not move
	// meanwhile, so a load that raced with a revocation cannot bring the
	// session back.
	rev atomic.Uint64
	neg negative
	// lifetime, when positive, caps the expiry of every session held at
	// its creation plus lifetime (WithMaxLifetime): a session recorded
	// under a longer SESSION_TTL than the store now has would otherwise
	// outlive the epochs that the store forgets.
	lifetime int64
}

type changeKind uint8

const (
	// upsert records what Redis said about a session, if rev is still seen.
	upsert changeKind = iota
	// revoked marks a session revoked (a tombstone Check answers locally).
	revoked
	// forget drops a session Redis no longer has.
	forget
	// epoch raises a not-before epoch.
	epoch
	// reset drops every session: Redis lost its data.
	reset
	// sweep drops what is expired or covered at at.
	sweep
)

type change struct {
	kind  changeKind
	id    string
	rec   table.Record[struct{}] // upsert
	seen  uint64                 // upsert: rev before the Redis read
	scope scope                  // epoch
	at    int64                  // epoch; for negative entries, now
	// sweep: epochs before it are forgotten (math.MinInt64: none).
	before int64
}

func newMirror(negSize int, negTTL int64) *mirror {
	return &mirror{t: table.New[struct{}](), neg: negative{max: negSize, ttl: negTTL, m: make(map[string]int64)}}
}

// apply makes one change to the mirror. For an epoch it returns the
// epoch's previous local value; for revoked, 1 if it revoked a session the
// mirror held unrevoked, else 0.
func (m *mirror) apply(c change) (old int64) {
	switch c.kind {
	case upsert:
		if m.lifetime > 0 && c.rec.Expires-c.rec.Created > m.lifetime {
			c.rec.Expires = c.rec.Created + m.lifetime
		}
		if m.t.Put(c.id, c.rec, func() bool { return m.rev.Load() == c.seen }) {
			m.neg.remove(c.id)
		}
	case revoked, forget:
		m.rev.Add(1)
		found := false
		m.t.Modify(c.id, math.MinInt64, func(e *table.Entry[struct{}], _ table.Status) bool {
			found = e != nil
			if found && c.kind == revoked {
				if !e.Revoked {
					old = 1
				}
				e.Revoked = true
			}
			return c.kind == forget
		})
		if !found || c.kind == forget {
			m.neg.add(c.id, c.at)
		}
		return old
	case epoch:
		return m.t.Raise(c.scope.table(), c.at)
	case reset:
		m.rev.Add(1)
		m.t.Clear()
		m.neg.clear()
	case sweep:
		m.t.Forget(c.at, c.before)
		m.neg.prune(c.at)
	}
	return 0
}

// negative remembers, for ttl, ids that Redis did not know, so a flood of
// tokens naming dead sessions costs one Redis read per id per ttl, and at
// most max entries of memory.
type negative struct {
	mu  sync.Mutex
	m   map[string]int64 // id → until (ns)
	max int
	ttl int64
}

func (n *negative) has(id string, now int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	until, ok := n.m[id]
	if ok && until <= now {
		delete(n.m, id)
		return false
	}
	return ok
}

func (n *negative) add(id string, now int64) {
	if n.max <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) >= n.max {
		n.pruneLocked(now)
	}
	// Still full: forget an arbitrary eighth (map order is random).
	if len(n.m) >= n.max {
		drop := max(1, n.max/8)
		for k := range n.m {
			if drop == 0 {
				break
			}
			delete(n.m, k)
			drop--
		}
	}
	n.m[id] = now + n.ttl
}

func (n *negative) remove(id string) {
	n.mu.Lock()
	delete(n.m, id)
	n.mu.Unlock()
}

func (n *negative) prune(now int64) {
	n.mu.Lock()
	n.pruneLocked(now)
	n.mu.Unlock()
}

func (n *negative) pruneLocked(now int64) {
	for k, until := range n.m {
		if until <= now {
			delete(n.m, k)
		}
	}
}

func (n *negative) clear() {
	n.mu.Lock()
	clear(n.m)
	n.mu.Unlock()
}

func (n *negative) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}
