package table

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
)

// none is the not-before of a scope that was never revoked: no int64 time
// is before it, so it covers nothing, whatever the session's CreatedAt.
const none = math.MinInt64

// Scope names what a mass revocation covers: everything, one tenant, or
// one subject of one tenant.
type Scope struct {
	kind            scopeKind
	tenant, subject string
}

type scopeKind uint8

const (
	scopeAll scopeKind = iota
	scopeTenant
	scopeSubject
)

// All is every session.
func All() Scope { return Scope{kind: scopeAll} }

// Tenant is every session of tenant.
func Tenant(tenant string) Scope { return Scope{kind: scopeTenant, tenant: tenant} }

// Subject is every session of subject in tenant. Subjects are per tenant:
// "alice" of tenant A and "alice" of tenant B are different scopes.
func Subject(tenant, subject string) Scope {
	return Scope{kind: scopeSubject, tenant: tenant, subject: subject}
}

// owner is one (tenant, subject) pair, shared by all of its sessions.
// Entries point at their owner, so Check finds the epochs it needs through
// one pointer: no map lookup, no key built, nothing allocated.
type owner struct {
	tenant  *tenantScope
	subject string
	// own is this pair's not-before epoch; floor is max(own, the
	// tenant's), kept up to date by every raise so Check reads one word.
	own, floor atomic.Int64
	// refs counts the entries that point here. It is raised only under
	// scopes.mu and may fall anywhere, so prune (under scopes.mu) never
	// frees an owner that an entry is being given.
	refs atomic.Int64
}

type tenantScope struct {
	name      string
	notBefore atomic.Int64
	owners    map[string]*owner // by subject; guarded by scopes.mu
}

// scopes is the registry of tenants and their owners, and the global
// epoch. Owners are found by tenant then subject, two map lookups on the
// caller's strings: nothing is concatenated, so no (tenant, subject)
// choice can collide with another and a lookup allocates nothing.
type scopes struct {
	global  atomic.Int64
	mu      sync.Mutex
	tenants map[string]*tenantScope
}

func (s *scopes) init() {
	s.global.Store(none)
	s.tenants = make(map[string]*tenantScope)
}

// covers reports whether a session of o created at created is dead by an
// epoch.
func (s *scopes) covers(o *owner, created int64) bool {
	return created < s.global.Load() || created < o.floor.Load()
}

// acquire returns the owner of (tenant, subject), registering it if new,
// with one more reference.
func (s *scopes) acquire(tenant, subject string) *owner {
	s.mu.Lock()
	o := s.ownerLocked(tenant, subject)
	o.refs.Add(1)
	s.mu.Unlock()
	return o
}

func (s *scopes) ownerLocked(tenant, subject string) *owner {
	t := s.tenantLocked(tenant)
	if o := t.owners[subject]; o != nil {
		return o
	}
	o := &owner{tenant: t, subject: strings.Clone(subject)}
	o.own.Store(none)
	o.floor.Store(t.notBefore.Load())
	t.owners[o.subject] = o
	return o
}

func (s *scopes) tenantLocked(tenant string) *tenantScope {
	if t := s.tenants[tenant]; t != nil {
		return t
	}
	t := &tenantScope{name: strings.Clone(tenant), owners: make(map[string]*owner)}
	t.notBefore.Store(none)
	s.tenants[t.name] = t
	return t
}

// lookup returns the registered tenant of sc and, for a subject scope, its
// owner, without creating them; nil when there is none (and so no session
// in that scope).
func (s *scopes) lookup(sc Scope) (*tenantScope, *owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[sc.tenant]
	if t == nil || sc.kind != scopeSubject {
		return t, nil
	}
	o := t.owners[sc.subject]
	if o == nil {
		return nil, nil
	}
	return t, o
}

// raiseTo moves cell forward to at; writers hold scopes.mu, so the load
// and the store cannot lose a higher value.
func raiseTo(cell *atomic.Int64, at int64) {
	if at > cell.Load() {
		cell.Store(at)
	}
}

// raise moves sc's epoch forward to at (never back) and returns the value
// it had, with the scope's registered tenant and owner. It returns after
// every floor that Check reads has the new value.
func (s *scopes) raise(sc Scope, at int64) (old int64, t *tenantScope, o *owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch sc.kind {
	case scopeAll:
		old = s.global.Load()
		raiseTo(&s.global, at)
	case scopeTenant:
		t = s.tenantLocked(sc.tenant)
		old = t.notBefore.Load()
		raiseTo(&t.notBefore, at)
		for _, o := range t.owners {
			raiseTo(&o.floor, at)
		}
	case scopeSubject:
		o = s.ownerLocked(sc.tenant, sc.subject)
		t = o.tenant
		old = o.own.Load()
		raiseTo(&o.own, at)
		raiseTo(&o.floor, at)
	}
	return old, t, o
}

// floor is the not-before that applies to (tenant, subject): a session of
// theirs created before it is dead.
func (s *scopes) floor(tenant, subject string) int64 {
	f := s.global.Load()
	s.mu.Lock()
	if t := s.tenants[tenant]; t != nil {
		f = max(f, t.notBefore.Load())
		if o := t.owners[subject]; o != nil {
			f = max(f, o.own.Load())
		}
	}
	s.mu.Unlock()
	return f
}

// floorBefore is floor(tenant, subject) as it was before sc's epoch was
// raised from old: the current epochs, with sc's own taken back to old.
func (s *scopes) floorBefore(sc Scope, old int64, tenant, subject string) int64 {
	g, tn, own := s.global.Load(), int64(none), int64(none)
	s.mu.Lock()
	if t := s.tenants[tenant]; t != nil {
		tn = t.notBefore.Load()
		if o := t.owners[subject]; o != nil {
			own = o.own.Load()
		}
	}
	s.mu.Unlock()
	switch sc.kind {
	case scopeAll:
		g = old
	case scopeTenant:
		tn = old
	case scopeSubject:
		own = old
	}
	return max(g, tn, own)
}

// prune forgets owners and tenants that no entry points at and whose
// epoch says nothing a broader epoch does not already say. Epochs only
// rise, so a subsumed epoch stays subsumed.
func (s *scopes) prune() {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.global.Load()
	for name, t := range s.tenants {
		tn := max(g, t.notBefore.Load())
		for subject, o := range t.owners {
			if o.refs.Load() == 0 && o.own.Load() <= tn {
				delete(t.owners, subject)
			}
		}
		if len(t.owners) == 0 && t.notBefore.Load() <= g {
			delete(s.tenants, name)
		}
	}
}

// size returns the number of registered owners and tenants.
func (s *scopes) size() (owners, tenants int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		owners += len(t.owners)
	}
	return owners, len(s.tenants)
}
