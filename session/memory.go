package session

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/relayauth/relayauth/session/internal/codec"
	"github.com/relayauth/relayauth/session/internal/table"
)

// MemoryStore keeps sessions in process memory: for development, tests and
// a single instance that may forget every session when it restarts. The
// production safety check refuses it (security.md 18).
//
// Per session it keeps one table entry, by value in the table's arena: the
// id and refresh id as 16 bytes each when canonical (see table and
// details), the times as int64 nanoseconds, an IPv4 address as 4 bytes, and
// a pointer to the (tenant, subject) pair its sessions share. Roles,
// scopes and user agents repeat across sessions, so they are interned
// together (package unique) rather than copied. About 255 bytes per
// session at a million sessions of a million subjects, 180 at five
// sessions per subject (BenchmarkMemoryPerSession).
//
// The table counts the live sessions per subject, per tenant and in all,
// so RevokeSubject, RevokeTenant and RevokeAll set an epoch and read a
// counter: their cost does not grow with the sessions they end, which stay
// held, dead, until the janitor (or their next use) removes them.
type MemoryStore struct {
	t        *table.Table[details]
	clock    func() time.Time
	janitor  time.Duration
	lifetime time.Duration // 0: unbounded, epochs kept for ever

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ Store = (*MemoryStore)(nil)

// details is the part of a Session that Check does not need, in compact
// form: a canonical refresh id (22 characters of unpadded base64url, the
// form this service mints) as its 16 bytes and a canonical IPv4 address
// as its 4; any other value of either is kept as given in extra.
type details struct {
	lastSeen int64
	profile  unique.Handle[profile]
	refresh  [16]byte
	ip       [4]byte
	form     uint8 // refresh and IP: how they are kept (form* bits)
	extra    *extra
}

const (
	refreshCompact uint8 = 1 << iota // in refresh
	refreshExtra                     // in extra.refresh
	ipCompact                        // in ip
	ipExtra                          // in extra.ip
)

// extra holds a refresh id and an IP that have no compact form.
type extra struct{ refresh, ip string }

var b64 = base64.RawURLEncoding.Strict()

// compactID decodes a canonical 128-bit id.
func compactID(id string) (k [16]byte, ok bool) {
	if len(id) != 22 {
		return k, false
	}
	n, err := b64.Decode(k[:], []byte(id))
	return k, err == nil && n == 16
}

func (d *details) setRefresh(id string) {
	d.form &^= refreshCompact | refreshExtra
	d.refresh = [16]byte{}
	if d.extra != nil {
		d.extra.refresh = ""
	}
	switch k, ok := compactID(id); {
	case ok:
		d.refresh, d.form = k, d.form|refreshCompact
	case id != "":
		if d.extra == nil {
			d.extra = new(extra)
		}
		d.extra.refresh, d.form = strings.Clone(id), d.form|refreshExtra
	}
}

func (d *details) setIP(ip string) {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() && a.String() == ip {
		d.ip, d.form = a.As4(), d.form|ipCompact
	} else if ip != "" {
		if d.extra == nil {
			d.extra = new(extra)
		}
		d.extra.ip, d.form = strings.Clone(ip), d.form|ipExtra
	}
}

func (d *details) refreshID() string {
	switch {
	case d.form&refreshCompact != 0:
		return base64.RawURLEncoding.EncodeToString(d.refresh[:])
	case d.form&refreshExtra != 0:
		return d.extra.refresh
	}
	return ""
}

func (d *details) ipString() string {
	switch {
	case d.form&ipCompact != 0:
		return netip.AddrFrom4(d.ip).String()
	case d.form&ipExtra != 0:
		return d.extra.ip
	}
	return ""
}

// refreshIs reports, in time independent of the stored id's content,
// whether presented is the current refresh id. The empty string is no
// token's id: it never matches.
func (d *details) refreshIs(presented string) bool {
	if presented == "" {
		return false
	}
	if k, ok := compactID(presented); ok {
		return d.form&refreshCompact != 0 && subtle.ConstantTimeCompare(d.refresh[:], k[:]) == 1
	}
	return d.form&refreshExtra != 0 && subtle.ConstantTimeCompare([]byte(d.extra.refresh), []byte(presented)) == 1
}

// profile is what many sessions share: roles and scopes (each as one codec
// list) and the user agent. It is interned, so each distinct profile is
// held once.
type profile struct{ roles, scopes, userAgent string }

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithClock sets the clock of the janitor and of Revoke, the one method
// that is not given the time. Without it Revoke treats a session that is
// still held as live whatever its ExpiresAt, and the janitor reads
// time.Now. Tests that pass their own times to the Store methods should
// pass the same clock here.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *MemoryStore) { m.clock = now }
}

// WithJanitor starts a goroutine that, every interval, removes the
// sessions that have expired or that a mass revocation covers, so memory
// stays proportional to the live sessions even when expired ones are never
// looked up again. Close stops it. Without it expired sessions are removed
// only when they are next used.
func WithJanitor(interval time.Duration) MemoryOption {
	return func(m *MemoryStore) { m.janitor = interval }
}

// WithMaxLifetime bounds every session's life: Create and Rotate refuse
// (ErrInvalid) an ExpiresAt more than d after CreatedAt. In return Sweep
// forgets the not-before epochs of mass revocations older than d (plus
// EpochGrace) that no held session needs, so the memory they take is
// bounded by the revocations of the last d rather than growing with every
// subject ever revoked. The server passes SESSION_TTL. Without it (or with
// d ≤ 0) lifetimes are not bounded and epochs are kept for ever.
func WithMaxLifetime(d time.Duration) MemoryOption {
	return func(m *MemoryStore) { m.lifetime = max(d, 0) }
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	m := &MemoryStore{t: table.NewCounting[details]()}
	for _, o := range opts {
		o(m)
	}
	if m.janitor > 0 {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.sweepEvery(m.janitor)
	}
	return m
}

func (m *MemoryStore) now() time.Time {
	if m.clock != nil {
		return m.clock()
	}
	return time.Now()
}

func (m *MemoryStore) sweepEvery(interval time.Duration) {
	defer close(m.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.Sweep(m.now())
		}
	}
}

// Sweep removes the sessions that are expired at now or covered by a mass
// revocation and returns how many it removed. With WithMaxLifetime it also
// forgets the epochs that can no longer cover a live session (see
// ForgetBefore). The janitor calls it; tests may call it directly.
func (m *MemoryStore) Sweep(now time.Time) int {
	if m.lifetime == 0 {
		return m.t.Sweep(now.UnixNano())
	}
	return m.t.Forget(now.UnixNano(), ForgetBefore(now, m.lifetime))
}

// Epochs returns how many subjects and tenants the store holds an epoch or
// a session for: what the memory of mass revocations costs.
func (m *MemoryStore) Epochs() (subjects, tenants int) { return m.t.Scopes() }

// checkLifetime refuses a session that would live longer than the bound.
func (m *MemoryStore) checkLifetime(created, expires int64) error {
	if m.lifetime > 0 && expires-created > int64(m.lifetime) {
		return fmt.Errorf("%w: ExpiresAt is more than %v after CreatedAt", ErrInvalid, m.lifetime)
	}
	return nil
}

// Len returns the number of sessions held, including expired and revoked
// ones that have not been removed yet.
func (m *MemoryStore) Len() int { return m.t.Len() }

// Create records a new session.
func (m *MemoryStore) Create(_ context.Context, s Session) error {
	if err := s.Validate(); err != nil {
		return err
	}
	created, _ := codec.Nanos(s.CreatedAt)
	expires, _ := codec.Nanos(s.ExpiresAt)
	lastSeen, _ := codec.Nanos(s.LastSeenAt)
	if err := m.checkLifetime(created, expires); err != nil {
		return err
	}
	// Clone what is kept so that a session never pins the larger buffer
	// (a request body, a token) that its strings were sliced from.
	d := details{
		lastSeen: lastSeen,
		profile:  unique.Make(profile{codec.EncodeList(s.Roles), codec.EncodeList(s.Scopes), s.UserAgent}),
	}
	d.setRefresh(s.RefreshID)
	d.setIP(s.IP)
	rec := table.Record[details]{Tenant: s.Tenant, Subject: s.Subject, Created: created, Expires: expires, Val: d}
	if !m.t.Insert(s.ID, rec) {
		return ErrExists
	}
	return nil
}

func toSession(id string, r table.Record[details]) Session {
	p := r.Val.profile.Value()
	roles, _ := codec.DecodeList(p.roles) // written by Create, so well formed
	scopes, _ := codec.DecodeList(p.scopes)
	return Session{
		ID:         id,
		Subject:    r.Subject,
		Tenant:     r.Tenant,
		Roles:      roles,
		Scopes:     scopes,
		CreatedAt:  codec.Time(r.Created),
		LastSeenAt: codec.Time(r.Val.lastSeen),
		ExpiresAt:  codec.Time(r.Expires),
		IP:         r.Val.ipString(),
		UserAgent:  p.userAgent,
		RefreshID:  r.Val.refreshID(),
	}
}

// Get returns a live session.
func (m *MemoryStore) Get(_ context.Context, id string, now time.Time) (Session, error) {
	r, st := m.t.Get(id, now.UnixNano())
	if st != table.Live {
		return Session{}, ErrNotFound
	}
	return toSession(id, r), nil
}

// List returns the live sessions that match f, oldest first (ties by id).
// It visits every session held: fine for the memory store's scale.
func (m *MemoryStore) List(_ context.Context, f Filter, now time.Time) ([]Session, error) {
	var out []Session
	m.t.Select(f.Tenant, f.Subject, now.UnixNano(), func(id string, r table.Record[details]) {
		out = append(out, toSession(id, r))
	})
	sortSessions(out)
	return out, nil
}

func sortSessions(list []Session) {
	slices.SortFunc(list, func(a, b Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Rotate swaps the refresh id under the session's lock. A presented id
// that is not the current one revokes the session and leaves a tombstone
// until it expires, so every later use of any of its refresh ids is also
// reported as reuse; unless the session already holds what this call
// installs (the same call made again, see Store.Rotate), which succeeds.
func (m *MemoryStore) Rotate(_ context.Context, id, presented, next string, now, expiresAt time.Time) (Session, error) {
	n, ok1 := codec.Nanos(now)
	exp, ok2 := codec.Nanos(expiresAt)
	if !ok1 || !ok2 {
		return Session{}, fmt.Errorf("%w: rotate times out of range", ErrInvalid)
	}
	var out Session
	var err error
	m.t.Modify(id, n, func(e *table.Entry[details], st table.Status) bool {
		switch st {
		case table.Live:
		case table.Revoked:
			err = ErrRefreshReused
			return false
		case table.Missing:
			err = ErrNotFound
			return false
		default: // Expired, Covered
			err = ErrNotFound
			return true
		}
		if err = m.checkLifetime(e.Created, exp); err != nil {
			return false
		}
		again := e.Val.refreshIs(next) && e.Val.lastSeen == n && e.Expires == exp
		if !e.Val.refreshIs(presented) && !again {
			e.Revoked = true
			// A tombstone needs neither its refresh id nor its IP.
			e.Val.refresh, e.Val.ip, e.Val.form, e.Val.extra = [16]byte{}, [4]byte{}, 0, nil
			err = ErrRefreshReused
			return false
		}
		e.Val.setRefresh(next)
		e.Val.lastSeen = n
		e.Expires = exp
		out = toSession(id, table.Record[details]{
			Tenant: e.Tenant(), Subject: e.Subject(), Created: e.Created, Expires: e.Expires, Val: e.Val,
		})
		return false
	})
	return out, err
}

// Revoke ends one session.
func (m *MemoryStore) Revoke(_ context.Context, id string) error {
	now := int64(-1 << 63) // no clock: judge no expiry
	if m.clock != nil {
		now = m.clock().UnixNano()
	}
	var err error
	m.t.Modify(id, now, func(_ *table.Entry[details], st table.Status) bool {
		if st != table.Live {
			err = ErrNotFound
			return st != table.Missing && st != table.Revoked
		}
		return true
	})
	return err
}

func (m *MemoryStore) revoke(sc table.Scope, at time.Time) (int, error) {
	n, ok := codec.Nanos(at)
	if !ok {
		return 0, fmt.Errorf("%w: revocation time %v is out of range", ErrInvalid, at)
	}
	return m.t.Revoke(sc, n), nil
}

// RevokeSubject ends every session of subject in tenant created before at.
// It counts the sessions that were live at at. Like RevokeTenant and
// RevokeAll it answers from the live counters, whatever the number of
// sessions, unless at is before the instant of an earlier revocation or a
// session of the scope was created at or after at; then it visits every
// session, as table.Revoke explains.
func (m *MemoryStore) RevokeSubject(_ context.Context, tenant, subject string, at time.Time) (int, error) {
	return m.revoke(table.Subject(tenant, subject), at)
}

// RevokeTenant ends every session of tenant created before at.
func (m *MemoryStore) RevokeTenant(_ context.Context, tenant string, at time.Time) (int, error) {
	return m.revoke(table.Tenant(tenant), at)
}

// RevokeAll ends every session created before at.
func (m *MemoryStore) RevokeAll(_ context.Context, at time.Time) (int, error) {
	return m.revoke(table.All(), at)
}

// Check reports whether session id is live at now. It allocates nothing.
func (m *MemoryStore) Check(_ context.Context, id string, now time.Time) error {
	if m.t.Status(id, now.UnixNano()) != table.Live {
		return ErrNotFound
	}
	return nil
}

// Ping always succeeds: memory is always there.
func (m *MemoryStore) Ping(context.Context) error { return nil }

// Close stops the janitor, if any. The sessions stay readable.
func (m *MemoryStore) Close() error {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			close(m.stop)
			<-m.done
		}
	})
	return nil
}

// Backend names the backend for diagnostics.
func (m *MemoryStore) Backend() string { return "memory" }
