package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/internal/flight"
)

// Limits of Manager requests.
const (
	// MaxExpiresIn is the longest lifetime a key may be created with:
	// ten years. Longer is a typo, or a key that will outlive anyone who
	// remembers why it exists.
	MaxExpiresIn = 3653 * 24 * time.Hour
	// MaxRotationGrace is the longest a previous secret may keep working
	// after a rotation.
	MaxRotationGrace = 30 * 24 * time.Hour
)

// Defaults of the Manager's options.
const (
	DefaultFlushInterval    = time.Minute
	DefaultNegativeSize     = 1 << 16
	DefaultNegativeTTL      = 30 * time.Second
	DefaultStoreLookupLimit = 100 // per second

	// clockTick is how often the coarse clock is refreshed; see
	// Manager.nowNanos.
	clockTick = 10 * time.Millisecond

	loadTimeout   = 30 * time.Second
	lookupTimeout = 5 * time.Second
	flushTimeout  = 10 * time.Second
)

// Manager creates, verifies, rotates and revokes API keys on a Store.
//
// Verify, on every request that presents a key, answers from an in-memory
// index of every key (loaded at NewManager, kept current by every write
// through the Manager): no store round trip in the common case, and no
// allocation. Last-used times are kept in memory too and written to the
// store in one batch per flush interval.
//
// Changes made by another Manager on a shared store (another instance on
// Redis, the command line on the file) reach this one when it looks a
// secret up: a key created elsewhere works after one store lookup, and a
// key rotated elsewhere is re-read, whole, when its new secret is first
// presented here.
//
// On a store that is a Notifier (Redis), revocations, rotations and
// deletions made through any Manager reach every other one's index:
// pushed (the changing Manager records its intent before the write and
// notifies after it, retrying until the notification goes through; every
// Manager subscribes, re-reads the key, and keeps re-reading it on every
// reconciliation for IntentWindow, so a writer that dies after its write
// cannot leave the change unannounced), and
// reconciled every freshness/4 from the store's record of changes, so a
// lost message or a reconnect cannot leave a revoked key working; a
// Manager that fell so far behind that the record no longer covers it
// reloads every key, and forgets those that are gone. While a Manager
// cannot confirm that (subscription down, or last reconciliation older
// than the freshness window; see WithFreshness), Verify refuses every key
// with ErrUnavailable, and it recovers on its own. On other stores,
// revocations made elsewhere of keys this Manager already holds reach it
// only when it restarts or re-reads the record.
type Manager struct {
	store      Store
	env        Env
	now        func() time.Time
	log        *slog.Logger
	flushEvery time.Duration
	negSize    int
	negTTL     time.Duration
	lookupRate int

	// Propagation, on a Notifier store (propagate.go).
	notifier  Notifier
	freshness time.Duration
	observe   func(time.Duration)
	prop      propagation

	// The index. Every change goes through apply.
	mu     sync.RWMutex
	byHash map[Hash]*entry // current and previous hashes
	byID   map[string]*entry
	seq    uint64 // counts applies: see cache
	// local holds, per key, the seq of the last change this Manager wrote
	// (or revoked locally) that no re-read begun after it has confirmed
	// yet: see applyRead.
	local map[string]uint64
	// touched, while reload runs, collects the ids applied meanwhile.
	touched map[string]struct{}

	misses misses
	flight flight.Group[Hash, *entry]

	// coarse is the wall clock in Unix ns, stored every clockTick by the
	// ticker goroutine when the clock is time.Now; 0 when there is no
	// such goroutine (an injected clock, or after Close).
	coarse      atomic.Int64
	customClock bool

	flushMu   sync.Mutex // one flush at a time; guards usage.flushed
	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the clock (default time.Now) that stamps creation,
// rotation, revocation and use, and judges expiry, rotation grace and the
// freshness window (WithFreshness).
// Verify reads an injected clock on every call; the default one it reads
// through a copy refreshed every 10ms (see Verify).
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now, m.customClock = now, true }
}

// WithLogger sets where the Manager logs key creation, rotation and
// revocation (with the key's id and masked form, never the key) and store
// failures. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithFlushInterval sets how often last-used times are written to the
// store (default one minute): one Store.TouchLastUsed per interval, for
// every key used since the last one, and a last one at Close. LastUsedAt
// in the store lags by at most this much.
func WithFlushInterval(d time.Duration) Option { return func(m *Manager) { m.flushEvery = d } }

// WithNegativeCache bounds the memory of hashes the store did not know:
// at most size of them (default 65536), each for ttl (default 30s), so a
// client retrying a dead or mistyped key costs one store lookup per ttl.
// A size of 0 turns it off.
func WithNegativeCache(size int, ttl time.Duration) Option {
	return func(m *Manager) { m.negSize, m.negTTL = size, ttl }
}

// WithStoreLookupLimit caps the store lookups that Verify makes for keys
// missing from the index at perSecond per second, bursts included
// (default 100). Well-formed keys with valid checksums are easy to make,
// so a flood of distinct made-up keys would otherwise be a flood of store
// reads; over the limit such keys are refused as unknown without a
// lookup. Only keys created or rotated by another Manager after this one
// loaded its index need a lookup at all. 0 turns the limit off.
func WithStoreLookupLimit(perSecond int) Option {
	return func(m *Manager) { m.lookupRate = perSecond }
}

// NewManager returns a Manager that issues keys of environment env
// (EnvFor(RELAY_ENV)) on store, and accepts only keys of env. It loads
// every key of the store into its index and starts the last-used flusher;
// Close stops it. The store stays the caller's to close, after the
// Manager.
func NewManager(store Store, env Env, opts ...Option) (*Manager, error) {
	m := &Manager{
		store: store, env: env, now: time.Now, log: slog.Default(),
		flushEvery: DefaultFlushInterval,
		negSize:    DefaultNegativeSize, negTTL: DefaultNegativeTTL,
		lookupRate: DefaultStoreLookupLimit,
		freshness:  DefaultFreshness,
		byHash:     map[Hash]*entry{}, byID: map[string]*entry{},
	}
	for _, o := range opts {
		o(m)
	}
	switch {
	case store == nil:
		return nil, errors.New("apikey: nil store")
	case !env.Valid():
		return nil, fmt.Errorf("apikey: environment %q is neither %q nor %q", env, EnvLive, EnvTest)
	case m.now == nil:
		return nil, errors.New("apikey: nil clock")
	case m.log == nil:
		return nil, errors.New("apikey: nil logger")
	case m.flushEvery <= 0:
		return nil, fmt.Errorf("apikey: flush interval %v is not positive", m.flushEvery)
	case m.negSize < 0 || m.negTTL < 0:
		return nil, errors.New("apikey: negative cache size and ttl must not be negative")
	case m.lookupRate < 0:
		return nil, errors.New("apikey: store lookup limit must not be negative")
	case m.freshness <= 0:
		return nil, fmt.Errorf("apikey: freshness %v is not positive", m.freshness)
	}
	m.misses.init(m.negSize, m.negTTL, m.lookupRate, m.now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	m.stop = make(chan struct{})
	if n, ok := store.(Notifier); ok {
		// Subscribed before the load, so no change is missed.
		m.notifier = n
		if err := m.startPropagation(ctx); err != nil {
			return nil, fmt.Errorf("apikey: subscribing to key changes: %w", err)
		}
	}
	// Under the reconciliation lock, as reconcile's reloads are: a
	// resubscription may already be reconciling, and two reloads at once
	// would each take the other's changes for List's.
	m.prop.mu.Lock()
	err := m.reload(ctx)
	m.prop.mu.Unlock()
	if err != nil {
		m.stopPropagation()
		return nil, fmt.Errorf("apikey: loading keys: %w", err)
	}
	if m.notifier != nil {
		if err := m.reconcile(ctx); err != nil {
			m.stopPropagation()
			return nil, fmt.Errorf("apikey: loading keys: %w", err)
		}
		m.done.Go(m.propagationLoop)
	}
	if !m.customClock {
		m.coarse.Store(time.Now().UnixNano())
		m.done.Go(m.clockLoop)
	}
	m.done.Go(m.flushLoop)
	return m, nil
}

// CreateRequest is what Create needs to know.
type CreateRequest struct {
	Name   string
	Tenant string
	Scopes []string
	Roles  []string
	// ExpiresIn is the key's lifetime; 0 means it never expires.
	ExpiresIn time.Duration
	// CreatedBy names who asked, for audit (a subject, "cli", ...).
	CreatedBy string
}

// Create makes a new key and returns its record and the key itself. This
// is the only time the key is available: the store keeps its hash. The
// request is checked first (see Key.Validate; ExpiresIn from 0 to
// MaxExpiresIn); every problem is reported in one error wrapping
// ErrInvalid, and nothing is stored. ErrNameTaken if the tenant has a key
// of this name.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (Key, relayauth.Secret, error) {
	secret, err := Generate(m.env)
	if err != nil {
		return Key{}, "", err
	}
	raw := secret.Reveal()
	now := m.stamp()
	k := Key{
		ID: NewID(), Name: req.Name, Tenant: req.Tenant,
		Scopes: cloneList(req.Scopes), Roles: cloneList(req.Roles),
		Env: m.env, Hash: HashOf(raw), MaskedKey: Mask(raw),
		CreatedAt: now, CreatedBy: req.CreatedBy,
	}
	var errs []error
	if req.ExpiresIn < 0 || req.ExpiresIn > MaxExpiresIn {
		errs = append(errs, fmt.Errorf("expires_in must be from 0 (never) to %v", MaxExpiresIn))
	} else if req.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(req.ExpiresIn)
	}
	if errs = append(errs, k.problems()...); len(errs) > 0 {
		return Key{}, "", fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	if err := m.store.Create(ctx, k); err != nil {
		return Key{}, "", err
	}
	m.apply(k.ID, &k)
	m.audit(ctx, "api key created", &k)
	return m.view(k), secret, nil
}

// Rotate gives the key a new secret, returned once like Create's. The
// previous secret keeps working until now+grace; a grace of 0 ends it at
// once. Only the secret just replaced gets a grace period: rotating again
// ends any older one. ErrInvalid for a grace outside 0 to
// MaxRotationGrace, ErrNotFound for an unknown id, ErrInactive for a
// revoked or expired key. Rotate and Revoke never lose each other's
// change: the store applies each atomically.
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration) (Key, relayauth.Secret, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return Key{}, "", fmt.Errorf("%w: grace must be from 0 to %v", ErrInvalid, MaxRotationGrace)
	}
	if !ValidID(id) {
		return Key{}, "", ErrNotFound
	}
	secret, err := Generate(m.env)
	if err != nil {
		return Key{}, "", err
	}
	raw := secret.Reveal()
	hash, masked := HashOf(raw), Mask(raw)
	wctx, done, err := m.intend(ctx, id)
	if err != nil {
		return Key{}, "", err
	}
	defer done()
	k, err := m.store.Update(wctx, id, func(k *Key) error {
		now := m.stamp()
		switch {
		case k.Revoked() || k.Expired(now):
			return ErrInactive
		case k.Env != m.env:
			return fmt.Errorf("%w: the key belongs to the %q environment", ErrInvalid, k.Env)
		}
		k.PrevHash, k.PrevValidUntil = Hash{}, time.Time{}
		if grace > 0 {
			k.PrevHash, k.PrevValidUntil = k.Hash, now.Add(grace)
		}
		k.Hash, k.MaskedKey, k.RotatedAt = hash, masked, now
		return nil
	})
	if err != nil {
		m.forgetIfGone(id, err)
		return Key{}, "", err
	}
	m.applyLocal(id, &k)
	// The new secret must reach the caller whatever the announcement
	// does: announce retries it until it goes through.
	m.announce(ctx, id, time.Now())
	m.audit(ctx, "api key rotated", &k, slog.Duration("grace", grace))
	return m.view(k), secret, nil
}

// Revoke ends the key: every Verify that starts after Revoke returns
// refuses it. Revoking a revoked key changes nothing and succeeds.
// ErrNotFound for an unknown id. If the store cannot be reached the key
// is still refused by this Manager from then on, and the error says the
// store did not record it. On a Notifier store the intent is recorded
// first (see Notifier.Intend), and a revocation whose intent cannot be
// recorded is not written (ErrUnavailable; this Manager still refuses the
// key); one the store recorded succeeds even if it could not be announced
// to the other Managers at once: they learned of the intent and re-read
// the key, and the Manager retries the announcement until it goes
// through.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	wctx, done, err := m.intend(ctx, id)
	if err != nil {
		m.revokeLocally(id)
		return err
	}
	defer done()
	k, err := m.store.Update(wctx, id, func(k *Key) error {
		if !k.Revoked() {
			k.RevokedAt = m.stamp()
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, relayauth.ErrUnavailable) {
			m.revokeLocally(id)
			m.log.LogAttrs(ctx, slog.LevelError, "api key revoked locally only: store unavailable",
				slog.String("key_id", id), slog.Any("error", err))
		}
		m.forgetIfGone(id, err)
		return err
	}
	m.applyLocal(id, &k)
	m.announce(ctx, id, time.Now())
	m.audit(ctx, "api key revoked", &k)
	return nil
}

// Delete removes the key's record from the store; the key stops working
// as Revoke's does, and its announcement is retried the same way. Revoke
// instead to keep the record for audit.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	wctx, done, err := m.intend(ctx, id)
	if err != nil {
		m.revokeLocally(id)
		return err
	}
	defer done()
	if err := m.store.Delete(wctx, id); err != nil {
		if errors.Is(err, relayauth.ErrUnavailable) {
			m.revokeLocally(id)
		}
		m.forgetIfGone(id, err)
		return err
	}
	m.applyLocal(id, nil)
	m.announce(ctx, id, time.Now())
	m.log.LogAttrs(ctx, slog.LevelInfo, "api key deleted", slog.String("key_id", id))
	return nil
}

// Get returns the key's record. Records from the Manager carry no hashes:
// their only key material is MaskedKey. Whether the caller may see the
// key's tenant is the caller's check.
func (m *Manager) Get(ctx context.Context, id string) (Key, error) {
	if !ValidID(id) {
		return Key{}, ErrNotFound
	}
	k, err := m.store.Get(ctx, id)
	if err != nil {
		return Key{}, err
	}
	return m.view(k), nil
}

// List returns the records of tenant's keys ("" for every tenant), oldest
// first, without hashes.
func (m *Manager) List(ctx context.Context, tenant string) ([]Key, error) {
	keys, err := m.store.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		keys[i] = m.view(keys[i])
	}
	return keys, nil
}

// Close stops the flusher and writes the last-used times not yet written.
// On a Notifier store it also makes a last attempt, for at most two
// seconds, at the announcements of changes still pending (see Revoke);
// the error names the keys whose changes it could not announce. It does
// not close the store. Verify keeps working after Close, but uses are no
// longer recorded.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.stopPropagation()
		m.coarse.Store(0) // Verify reads the clock itself from now on
		announced := m.closeAnnouncements()
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		m.closeErr = errors.Join(announced, m.flush(ctx))
	})
	return m.closeErr
}

// forgetIfGone drops id from the index when the store says it has no such
// key (deleted by another process): the index must not outlive the record.
func (m *Manager) forgetIfGone(id string, err error) {
	if errors.Is(err, ErrNotFound) {
		m.apply(id, nil)
	}
}

// stamp is the clock's now as stored: UTC, no monotonic reading.
func (m *Manager) stamp() time.Time { return m.now().Round(0).UTC() }

// view is k as the Manager hands it out: without hashes, and with the
// last use this Manager saw if that is later than the store's.
func (m *Manager) view(k Key) Key {
	k.Hash, k.PrevHash = Hash{}, Hash{}
	m.mu.RLock()
	e := m.byID[k.ID]
	m.mu.RUnlock()
	if e != nil {
		if last := e.use.last.Load(); last > 0 {
			if t := time.Unix(0, last).UTC(); t.After(k.LastUsedAt) {
				k.LastUsedAt = t
			}
		}
	}
	return k
}

func (m *Manager) audit(ctx context.Context, msg string, k *Key, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("key_id", k.ID), slog.String("tenant", k.Tenant), slog.String("name", k.Name),
		slog.String("masked_key", k.MaskedKey), slog.String("env", string(k.Env)),
	}, extra...)
	m.log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}

func cloneList(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
