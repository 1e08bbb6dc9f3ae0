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
// pointers: no map lookup, no key built, nothing allocated.
//
// It is kept small (48 bytes): with one session per subject, every session
// pays for one owner.
type owner struct {
	tenant  *tenantScope
	subject string
	// own is this pair's not-before epoch. Written under scopes.mu, read
	// by Check without it.
	own atomic.Int64
	// refs counts the entries that point here; live counts those of them
	// that are counted (see Table). Both guarded by scopes.mu.
	refs, live int32
	// tgen and ggen are the tenant's and the table's generation when live
	// was last valid: a mass revocation that ended every counted session
	// of the tenant (or of the table) bumps the generation instead of
	// visiting each owner, and live reads as 0 until the owner is next
	// touched.
	tgen, ggen uint32
}

type tenantScope struct {
	name      string
	notBefore atomic.Int64
	owners    map[string]*owner // by subject; guarded by scopes.mu
	// Guarded by scopes.mu: the counted sessions of the tenant, an upper
	// bound of their CreatedAt, this tenant's generation and the table's
	// generation live was valid at.
	live       int
	maxCreated int64
	gen, ggen  uint32
}

// scopes is the registry of tenants and their owners, the global epoch,
// and the live counters of counting tables. Owners are found by tenant
// then subject, two map lookups on the caller's strings: nothing is
// concatenated, so no (tenant, subject) choice can collide with another
// and a lookup allocates nothing.
type scopes struct {
	global  atomic.Int64
	mu      sync.Mutex
	tenants map[string]*tenantScope
	// Guarded by mu.
	live       int
	maxCreated int64
	gen        uint32
}

func (s *scopes) init() {
	s.global.Store(none)
	s.tenants = make(map[string]*tenantScope)
	s.maxCreated = none
}

// covers reports whether a session of o created at created is dead by an
// epoch. Three atomic loads, no lock.
func (s *scopes) covers(o *owner, created int64) bool {
	return created < s.global.Load() || created < o.own.Load() || created < o.tenant.notBefore.Load()
}

// ownerLocked returns the owner of (tenant, subject), registering it if
// new.
func (s *scopes) ownerLocked(tenant, subject string) *owner {
	t := s.tenantLocked(tenant)
	if o := t.owners[subject]; o != nil {
		return o
	}
	o := &owner{tenant: t, subject: strings.Clone(subject), tgen: t.gen, ggen: s.gen}
	o.own.Store(none)
	t.owners[o.subject] = o
	return o
}

func (s *scopes) tenantLocked(tenant string) *tenantScope {
	if t := s.tenants[tenant]; t != nil {
		return t
	}
	t := &tenantScope{name: strings.Clone(tenant), owners: make(map[string]*owner), maxCreated: none, ggen: s.gen}
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

// cell returns sc's epoch, registering its tenant and owner. Under mu.
func (s *scopes) cellLocked(sc Scope) *atomic.Int64 {
	switch sc.kind {
	case scopeTenant:
		return &s.tenantLocked(sc.tenant).notBefore
	case scopeSubject:
		return &s.ownerLocked(sc.tenant, sc.subject).own
	}
	return &s.global
}

// normTenant zeroes t's counters if a revocation of everything ended
// them since they were last touched. Under mu.
func (s *scopes) normTenant(t *tenantScope) {
	if t.ggen != s.gen {
		t.ggen, t.live, t.maxCreated = s.gen, 0, none
	}
}

// normOwner is normTenant for an owner (and its tenant). Under mu.
func (s *scopes) normOwner(o *owner) {
	t := o.tenant
	s.normTenant(t)
	if o.tgen != t.gen || o.ggen != s.gen {
		o.tgen, o.ggen, o.live = t.gen, s.gen, 0
	}
}

// count adds a counted session of o created at created. Under mu.
func (s *scopes) count(o *owner, created int64) {
	s.normOwner(o)
	t := o.tenant
	o.live++
	t.live++
	t.maxCreated = max(t.maxCreated, created)
	s.live++
	s.maxCreated = max(s.maxCreated, created)
}

// uncount removes a counted session of o. Under mu.
func (s *scopes) uncount(o *owner) {
	s.normOwner(o)
	o.live--
	o.tenant.live--
	s.live--
}

// resetCounts zeroes every counter and generation, before a recount.
// Under mu.
func (s *scopes) resetCounts() {
	s.gen, s.live, s.maxCreated = 0, 0, none
	for _, t := range s.tenants {
		t.gen, t.ggen, t.live, t.maxCreated = 0, 0, 0, none
		for _, o := range t.owners {
			o.tgen, o.ggen, o.live = 0, 0, 0
		}
	}
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
// epoch says nothing a broader epoch does not already say, or is before
// forget (none: forget nothing by age). Epochs only rise, so a subsumed
// epoch stays subsumed; an epoch before forget covers only sessions that
// the caller vouches have expired (see Table.Forget).
func (s *scopes) prune(forget int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.global.Load()
	for name, t := range s.tenants {
		tn := max(g, t.notBefore.Load())
		for subject, o := range t.owners {
			if own := o.own.Load(); o.refs == 0 && (own <= tn || own < forget) {
				delete(t.owners, subject)
			}
		}
		if nb := t.notBefore.Load(); len(t.owners) == 0 && (nb <= g || nb < forget) {
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
