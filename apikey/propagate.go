package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Notifier is implemented by stores that several Managers share (the
// Redis store), so that a revocation or rotation made through one Manager
// reaches every other one's index. Stores that one process owns (memory,
// file) do not implement it; the Store interface is unchanged.
type Notifier interface {
	// Intend announces, before the write, that the key id is about to
	// change (at is when): published and recorded for Changes in one
	// step, as Notify. A Manager that learns of it re-reads the key at
	// once and then on every reconciliation for IntentWindow, so the
	// change reaches it even if the writer dies right after the write,
	// before it could Notify. The Manager writes only once Intend went
	// through, and gives up on a write it could not send within
	// WriteWindow of starting Intend.
	Intend(ctx context.Context, id string, at time.Time) error
	// Notify announces that the key id changed at at: published to every
	// subscriber, and recorded for Changes, in one step. It must be safe
	// to repeat: the Manager retries a Notify that failed, and one that
	// went through twice only makes the other Managers read the key again.
	Notify(ctx context.Context, id string, at time.Time) error
	// Subscribe calls fn for every notification until ctx is done, and
	// up(true) each time a subscription is confirmed, up(false) each
	// time one is lost; it subscribes again on its own. It blocks until
	// ctx is done, or fails at once if it cannot subscribe the first
	// time.
	Subscribe(ctx context.Context, fn func(id string, at time.Time), up func(bool)) error
	// Changes returns the ids notified after cursor, and the cursor to
	// pass next. An empty cursor returns no ids, only the current end.
	// ErrChangesLost, with the current end, when notifications after
	// cursor were trimmed before they were read.
	Changes(ctx context.Context, cursor string) (ids []string, next string, err error)
}

// Durable announcements: a Rotate, Revoke or Delete on a Notifier store
// first records its intent (Intend), then writes, then announces the
// written change (Notify, retried until it goes through). The intent is
// what makes the change reach every other Manager whatever instant the
// writer dies at; the announcement only makes it reach them faster.
const (
	// WriteWindow bounds a change's write: a Manager does not start the
	// write, nor a step of it, later than this after it began recording
	// the intent (the write's context ends then).
	WriteWindow = 2 * time.Second
	// IntentWindow is how long a Manager keeps re-reading a key, on every
	// reconciliation, after it learned of an intent or a change of it
	// (by message or from the change record): twice WriteWindow, so that
	// a command the writer sent just inside its window, and Redis ran
	// late, is still read.
	IntentWindow = 2 * WriteWindow
)

// ErrChangesLost is returned by Notifier.Changes when the caller fell so
// far behind that changes it never read are gone: it must reload every
// key.
var ErrChangesLost = errors.New("API key change notifications lost")

// DefaultFreshness is the fail-closed window of a Manager on a Notifier
// store (WithFreshness).
const DefaultFreshness = 5 * time.Second

// errStale is Verify's answer while the Manager cannot confirm that its
// index holds every revocation: 503, never a key it cannot vouch for.
var errStale = fmt.Errorf("%w: revocation state older than the freshness window", ErrUnavailable)

// WithFreshness sets the fail-closed window (default 5s) of a Manager
// whose store is a Notifier: Verify answers ErrUnavailable while the
// Manager's subscription is down, or once the start of its last
// successful reconciliation (every d/4) is more than d ago on the
// Manager's clock. Without a Notifier store it has no effect.
func WithFreshness(d time.Duration) Option { return func(m *Manager) { m.freshness = d } }

// WithPropagationObserver sets a function called, for every change
// notification received, with the time since the change was made (on the
// changing Manager's clock): the auth_revocation_propagation_seconds
// histogram.
func WithPropagationObserver(f func(time.Duration)) Option {
	return func(m *Manager) { m.observe = f }
}

// StateAge is how old the Manager's knowledge of other Managers' changes
// is: the time since the start of its last reconciliation that completed
// with the subscription up throughout. 0 without a Notifier store. For
// the auth_revocation_state_age_seconds gauge.
func (m *Manager) StateAge() time.Duration {
	if m.notifier == nil {
		return 0
	}
	return time.Duration(max(0, m.now().UnixNano()-m.prop.lastContact.Load()))
}

// propagation is the Manager's state of change propagation.
type propagation struct {
	cancel context.CancelFunc // ends the subscription
	// freshUntil is what Verify reads: the instant (Unix ns, Manager's
	// clock) after which the index is no longer confirmed, or stale.
	// Only a confirming reconciliation raises it, to its start plus the
	// freshness window, so Verify judges staleness on its own clock
	// read: nothing has to run, and no blocked store call can keep the
	// index fresh past the window.
	freshUntil atomic.Int64
	// sub packs the subscription's generation and whether it is up (the
	// low bit); lastContact is when the last confirming reconciliation
	// started (Unix ns, Manager's clock).
	sub         atomic.Uint64
	lastContact atomic.Int64

	mu     sync.Mutex // one reconciliation at a time
	cursor string
	// rereadMu: one re-read (Get and apply) at a time; see reread.
	rereadMu sync.Mutex

	// Announcements (Notify) of changes made through this Manager that
	// failed, retried until they go through: see announce. writes counts
	// the changes announced, so that a Notify that went through clears
	// only the pending ones whose write came before it.
	writes  atomic.Uint64
	pendMu  sync.Mutex
	pending map[string]pendingNote

	// watched are the keys this Manager re-reads on every reconciliation
	// until the instant given (Unix ns, Manager's clock): every key it
	// learned an intent or a change of in the last IntentWindow.
	watchMu sync.Mutex
	watched map[string]int64
}

// watch keeps id re-read on every reconciliation for IntentWindow from
// now.
func (m *Manager) watch(id string) {
	until := m.now().UnixNano() + int64(IntentWindow)
	m.prop.watchMu.Lock()
	if m.prop.watched == nil {
		m.prop.watched = map[string]int64{}
	}
	m.prop.watched[id] = max(m.prop.watched[id], until)
	m.prop.watchMu.Unlock()
}

// rereadWatched re-reads every watched key, and stops watching those whose
// window ended before the read began: the read that ends a watch starts
// after the window, so it sees any write the window covers.
func (m *Manager) rereadWatched(ctx context.Context) error {
	start := m.now().UnixNano()
	m.prop.watchMu.Lock()
	ids := slices.Collect(maps.Keys(m.prop.watched))
	m.prop.watchMu.Unlock()
	for _, id := range ids {
		if err := m.reread(ctx, id); err != nil {
			return err
		}
		m.prop.watchMu.Lock()
		if m.prop.watched[id] < start {
			delete(m.prop.watched, id)
		}
		m.prop.watchMu.Unlock()
	}
	return nil
}

// watchedIDs returns the watched keys, sorted; for tests.
func (m *Manager) watchedIDs() []string {
	m.prop.watchMu.Lock()
	defer m.prop.watchMu.Unlock()
	return slices.Sorted(maps.Keys(m.prop.watched))
}

// pendingNote is an announcement still to make: when the key's earliest
// unannounced change was made, and the count (propagation.writes) of its
// latest one.
type pendingNote struct {
	at    time.Time
	write uint64
}

// stopPropagation ends the subscription and waits for the goroutines.
func (m *Manager) stopPropagation() {
	if m.prop.cancel != nil {
		m.prop.cancel()
	}
	m.done.Wait()
	m.prop.freshUntil.Store(stale)
}

// stale is freshUntil when the index is not confirmed: before any instant.
const stale = math.MinInt64

// startPropagation subscribes (first, so nothing is missed) and places
// the changes cursor, before NewManager loads the index.
func (m *Manager) startPropagation(ctx context.Context) error {
	subscribed := make(chan error, 1)
	pctx, cancel := context.WithCancel(context.Background())
	m.prop.cancel = cancel
	first := true
	m.done.Go(func() {
		err := m.notifier.Subscribe(pctx, m.onChange, func(up bool) {
			m.setSubscribed(up)
			if first {
				first = false
				subscribed <- nil
				return
			}
			if up {
				// Notifications sent while it was down are lost:
				// reconcile now.
				m.reconcile(pctx)
			}
		})
		if first {
			subscribed <- err
		}
	})
	select {
	case err := <-subscribed:
		if err == nil {
			_, m.prop.cursor, err = m.notifier.Changes(ctx, "")
		}
		if err != nil {
			cancel()
			m.done.Wait()
			return err
		}
	case <-ctx.Done():
		cancel()
		m.done.Wait()
		return ctx.Err()
	}
	return nil
}

// setSubscribed records the subscription's state; see the session
// store's counterpart. Any change makes the index stale at once: a lost
// subscription may have lost notifications, and a confirmed one makes the
// index fresh only once a reconciliation started after it completes.
func (m *Manager) setSubscribed(up bool) {
	v := (m.prop.sub.Load()>>1 + 1) << 1
	if up {
		v |= 1
	}
	m.prop.sub.Store(v)
	m.prop.freshUntil.Store(stale)
}

// onChange re-reads a key another Manager (or this one) changed or is
// about to change, applies it, and watches it (see watch): an intent
// arrives before its write.
func (m *Manager) onChange(id string, at time.Time) {
	m.watch(id)
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	if err := m.reread(ctx, id); err != nil {
		// Reconciliation retries; until it succeeds this Manager goes
		// stale and refuses every key.
		m.log.LogAttrs(ctx, slog.LevelWarn, "api key change not applied", slog.String("key_id", id), slog.Any("error", err))
		return
	}
	if m.observe != nil {
		m.observe(max(0, time.Since(at)))
	}
}

// reread reads the key id from the store and applies it. Re-reads run
// one at a time (rereadMu): the message listener and
// reconciliation both re-read, and a read of the record from before a
// write (on its intent) must not be applied after a read of the write,
// which would undo the change here until the next reconciliation; and a
// read that began before a change this Manager wrote is dropped
// (applyRead).
func (m *Manager) reread(ctx context.Context, id string) error {
	m.prop.rereadMu.Lock()
	defer m.prop.rereadMu.Unlock()
	seen := m.readSeq()
	k, err := m.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		m.applyRead(id, nil, seen)
	case err != nil:
		return err
	default:
		m.applyRead(id, &k, seen)
	}
	return nil
}

// reconcile re-reads every key changed since the cursor (every key, when
// changes were lost). On success with the subscription up throughout, it
// records the time it started as the last contact, and keeps the index
// fresh until a freshness window after that: not after it returns, as
// changes made while it ran may have been missed.
func (m *Manager) reconcile(ctx context.Context) error {
	m.prop.mu.Lock()
	defer m.prop.mu.Unlock()
	sub := m.prop.sub.Load()
	start := m.now().UnixNano()
	ids, next, err := m.notifier.Changes(ctx, m.prop.cursor)
	switch {
	case errors.Is(err, ErrChangesLost):
		// next is the end of the log as it was before the reload reads
		// the store: a change the reload misses is logged after it, and
		// the next reconciliation reads it.
		if err := m.reload(ctx); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	for _, id := range ids {
		m.watch(id)
	}
	// The keys of the record read, and every key whose intent or change
	// is recent: a write may have landed since the last read.
	if err := m.rereadWatched(ctx); err != nil {
		return err
	}
	m.prop.cursor = next
	if sub&1 == 1 && m.prop.sub.Load() == sub {
		m.prop.lastContact.Store(start)
		until := start + int64(m.freshness)
		if !m.customClock {
			// Verify reads the coarse clock, up to a tick behind: the
			// window ends that much early rather than late.
			until -= int64(min(clockTick, m.freshness/2))
		}
		m.prop.freshUntil.Store(until)
		if m.prop.sub.Load() != sub {
			// Lost since the check: setSubscribed's reset may have
			// come before the store above.
			m.prop.freshUntil.Store(stale)
		}
	}
	return nil
}

// propagationLoop reconciles every freshness/4. A reconciliation that
// fails or hangs only lets the index go stale.
func (m *Manager) propagationLoop() {
	every := max(m.freshness/4, time.Millisecond)
	rec := time.NewTicker(every)
	defer rec.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-rec.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			_ = m.reconcile(ctx) // a failure shows as staleness
			cancel()
			ctx, cancel = context.WithTimeout(context.Background(), max(every, minNotifyTimeout))
			_ = m.announcePending(ctx) // a failure keeps them pending
			cancel()
		}
	}
}

// reload makes the index what the store holds: every key of List is
// applied, and every key of the index that List does not return (deleted
// while this Manager was not listening) is forgotten, with its hashes and
// its last use not yet flushed. NewManager loads the index with it, and
// reconcile when notifications were lost.
//
// The index may change while List runs: a write through this Manager (a
// key it creates, which no notification announces), a notification of
// another Manager's change, a lookup. Such a change may be newer than what
// List read, or older, so for those keys neither List's record nor its
// absence is applied: each is read again afterwards. A change made after
// List read the key and not applied here is announced after the cursor
// the caller placed before the reload, so its next reconciliation reads
// it.
func (m *Manager) reload(ctx context.Context) error {
	m.mu.Lock()
	m.touched = map[string]struct{}{}
	m.mu.Unlock()
	keys, err := m.store.List(ctx, "")
	m.mu.Lock()
	touched := m.touched
	m.touched = nil
	if err != nil {
		m.mu.Unlock()
		return err
	}
	listed := make(map[string]struct{}, len(keys))
	for i := range keys {
		id := keys[i].ID
		listed[id] = struct{}{}
		if _, ok := touched[id]; !ok {
			m.applyLocked(id, &keys[i])
		}
	}
	var gone []string
	for id := range m.byID {
		_, inStore := listed[id]
		_, changed := touched[id]
		if !inStore && !changed {
			gone = append(gone, id)
			m.applyLocked(id, nil)
		}
	}
	m.mu.Unlock()
	if len(gone) > 0 {
		m.log.LogAttrs(ctx, slog.LevelInfo, "api keys gone from the store dropped from the index",
			slog.Int("count", len(gone)), slog.Any("key_ids", gone))
	}
	for id := range touched {
		if err := m.reread(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Timing of announcements.
const (
	// notifyTimeout bounds the announcement of a change in the call that
	// made it (its first attempt and the immediate retries), and
	// closeNotifyTimeout the last attempt at Close of those still
	// pending; minNotifyTimeout is the least time a retry on a
	// propagation tick gets.
	notifyTimeout      = 2 * time.Second
	closeNotifyTimeout = 2 * time.Second
	minNotifyTimeout   = 100 * time.Millisecond
)

// intend records, before a write, that the key id is about to change, and
// returns the context the write must run in: it ends WriteWindow after
// intend began, so that no step of the write starts after the other
// Managers stop watching for it. A failed Intend is retried at once
// (notifyRetries); if it still fails, so does the change: a write that no
// other Manager would be told of is not made. Without a Notifier it
// returns ctx as it is.
func (m *Manager) intend(ctx context.Context, id string) (context.Context, context.CancelFunc, error) {
	if m.notifier == nil {
		return ctx, func() {}, nil
	}
	wctx, cancel := context.WithTimeout(ctx, WriteWindow)
	at := time.Now()
	if err := withRetries(wctx, func() error { return m.notifier.Intend(wctx, id, at) }); err != nil {
		cancel()
		m.log.LogAttrs(ctx, slog.LevelError, "api key change not made: its intent could not be recorded for the other instances",
			slog.String("key_id", id), slog.Any("error", err))
		return nil, nil, fmt.Errorf("%w: recording the change for the other instances: %w", ErrUnavailable, err)
	}
	return wctx, cancel, nil
}

// notifyRetries are the waits before the immediate retries of a failed
// announcement: a blip of Redis, or one lost command, costs the caller
// that much and no staleness elsewhere.
var notifyRetries = [...]time.Duration{20 * time.Millisecond, 100 * time.Millisecond}

// withRetries calls f, and again after each wait of notifyRetries while it
// fails and ctx lasts; it returns f's last error.
func withRetries(ctx context.Context, f func() error) error {
	err := f()
	for i := 0; err != nil && i < len(notifyRetries); i++ {
		t := time.NewTimer(notifyRetries[i])
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
		err = f()
	}
	return err
}

// announce tells the other Managers that the key id changed at at, after
// a write through this Manager that the store accepted. The write stands
// whatever happens here, so the operation's answer is the write's (Rotate
// must hand out the secret it stored), and this Manager's index already
// holds the change; but Notify is the only writer of the change log, so
// an announcement that failed would leave every other Manager holding the
// key as it was, for as long as it runs. A failed Notify is retried at
// once (notifyRetries), then kept pending and retried on every
// propagation tick until it goes through, and a last time at Close. A
// change still pending when the process dies reaches the other Managers
// only with a later change of the key, or when they reload every key
// (restart, or ErrChangesLost).
func (m *Manager) announce(ctx context.Context, id string, at time.Time) {
	if m.notifier == nil {
		return
	}
	// Counted after the write: a Notify that starts from here on covers it.
	write := m.prop.writes.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	err := withRetries(ctx, func() error { return m.notifyOnce(ctx, id, at) })
	if err == nil {
		return
	}
	m.prop.pendMu.Lock()
	if m.prop.pending == nil {
		m.prop.pending = map[string]pendingNote{}
	}
	p, ok := m.prop.pending[id]
	if !ok || at.Before(p.at) {
		p.at = at
	}
	p.write = max(p.write, write)
	m.prop.pending[id] = p
	m.prop.pendMu.Unlock()
	m.log.LogAttrs(ctx, slog.LevelWarn, "api key change recorded but not yet announced to other instances; retrying",
		slog.String("key_id", id), slog.Any("error", err))
}

// notifyOnce makes one announcement of id and, if it goes through, clears
// the pending one of id unless its latest write came after this started.
func (m *Manager) notifyOnce(ctx context.Context, id string, at time.Time) error {
	covers := m.prop.writes.Load()
	if err := m.notifier.Notify(ctx, id, at); err != nil {
		return err
	}
	m.prop.pendMu.Lock()
	if p, ok := m.prop.pending[id]; ok && p.write <= covers {
		delete(m.prop.pending, id)
	}
	m.prop.pendMu.Unlock()
	return nil
}

// announcePending retries the pending announcements, oldest change first,
// until one fails (Notify does the same for every id: the rest would
// fail too).
func (m *Manager) announcePending(ctx context.Context) error {
	type note struct {
		id string
		at time.Time
	}
	m.prop.pendMu.Lock()
	notes := make([]note, 0, len(m.prop.pending))
	for id, p := range m.prop.pending {
		notes = append(notes, note{id, p.at})
	}
	m.prop.pendMu.Unlock()
	slices.SortFunc(notes, func(a, b note) int { return a.at.Compare(b.at) })
	for _, n := range notes {
		if err := m.notifyOnce(ctx, n.id, n.at); err != nil {
			return err
		}
		m.log.LogAttrs(ctx, slog.LevelInfo, "api key change announced to other instances after a retry",
			slog.String("key_id", n.id), slog.Duration("late_by", time.Since(n.at)))
	}
	return nil
}

// pendingIDs returns the ids whose announcement is pending, sorted.
func (m *Manager) pendingIDs() []string {
	m.prop.pendMu.Lock()
	defer m.prop.pendMu.Unlock()
	return slices.Sorted(maps.Keys(m.prop.pending))
}

// closeAnnouncements makes a last attempt, bounded by closeNotifyTimeout,
// at the announcements still pending when the Manager closes. What it
// cannot send is lost: the error names the keys.
func (m *Manager) closeAnnouncements() error {
	if m.notifier == nil || len(m.pendingIDs()) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeNotifyTimeout)
	defer cancel()
	err := m.announcePending(ctx)
	if err == nil {
		return nil
	}
	ids := m.pendingIDs()
	m.log.LogAttrs(ctx, slog.LevelError,
		"api key changes never announced to other instances: they keep the previous state of these keys until the keys change again or they reload",
		slog.Any("key_ids", ids), slog.Any("error", err))
	return fmt.Errorf("%w: changes of API keys %v not announced to other instances: %w", ErrUnavailable, ids, err)
}
