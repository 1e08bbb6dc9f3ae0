// Package throttle slows down password guessing: per account and per
// client address, failures beyond a threshold lock the key for an
// exponentially growing time. While a key is locked every attempt is
// refused — a correct password included — so a lockout cannot be probed.
package throttle

import (
	"sync"
	"time"
)

// Policy is one dimension's rule.
type Policy struct {
	// Threshold is how many consecutive failures are free.
	Threshold int
	// Base is the first lockout; each further failure doubles it.
	Base time.Duration
	// Max caps the lockout.
	Max time.Duration
}

// Defaults: five free failures per account, twenty per client address;
// lockouts from one second doubling to fifteen minutes.
var (
	DefaultAccount = Policy{Threshold: 5, Base: time.Second, Max: 15 * time.Minute}
	DefaultClient  = Policy{Threshold: 20, Base: time.Second, Max: 15 * time.Minute}
)

// DefaultCapacity bounds the number of tracked keys.
const DefaultCapacity = 100_000

type entry struct {
	failures    int
	lockedUntil time.Time
	last        time.Time
}

// Limiter tracks failures. It is safe for concurrent use; its memory is
// bounded by its capacity.
type Limiter struct {
	mu       sync.Mutex
	account  Policy
	client   Policy
	entries  map[key]*entry
	capacity int
	now      func() time.Time
}

type key struct {
	client bool
	name   string
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithCapacity bounds the tracked keys (default DefaultCapacity).
func WithCapacity(n int) Option { return func(l *Limiter) { l.capacity = max(n, 16) } }

// New returns a Limiter with the given per-account and per-client rules.
func New(account, client Policy, opts ...Option) *Limiter {
	l := &Limiter{account: account, client: client, entries: map[key]*entry{}, capacity: DefaultCapacity, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Allow reports whether a login attempt for account from client may go
// ahead now, and if not, how long until it may.
func (l *Limiter) Allow(account, client string) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range [2]key{{false, account}, {true, client}} {
		if e := l.entries[k]; e != nil && now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
	}
	return retryAfter, retryAfter == 0
}

// Failure records a failed attempt.
func (l *Limiter) Failure(account, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.fail(key{false, account}, l.account, now)
	l.fail(key{true, client}, l.client, now)
}

// Success clears the account's failures. The client's are kept: logging
// in to one's own account must not reset a guessing run against others.
func (l *Limiter) Success(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key{false, account})
}

func (l *Limiter) fail(k key, p Policy, now time.Time) {
	e := l.entries[k]
	if e == nil {
		if len(l.entries) >= l.capacity {
			l.evict(now)
		}
		e = &entry{}
		l.entries[k] = e
	}
	// A key quiet for longer than the longest lockout starts afresh.
	if !e.last.IsZero() && now.Sub(e.last) > p.Max {
		e.failures = 0
	}
	e.failures++
	e.last = now
	if over := e.failures - p.Threshold; over > 0 {
		lock := p.Base
		for i := 1; i < over && lock < p.Max; i++ {
			lock *= 2
		}
		e.lockedUntil = now.Add(min(lock, p.Max))
	}
}

// evict makes room: first everything not locked and idle, then, if the
// map is still full, everything not locked, and last the lock that ends
// soonest. Longer locks are kept, so a flood of fresh keys cannot unlock
// an attacked account; memory stays bounded all the same. Failures are
// paced by password hashing, so this scan runs at most a few dozen
// times a second.
func (l *Limiter) evict(now time.Time) {
	for k, e := range l.entries {
		if !now.Before(e.lockedUntil) && now.Sub(e.last) > time.Minute {
			delete(l.entries, k)
		}
	}
	if len(l.entries) < l.capacity {
		return
	}
	for k, e := range l.entries {
		if !now.Before(e.lockedUntil) {
			delete(l.entries, k)
		}
	}
	if len(l.entries) < l.capacity {
		return
	}
	var soonest key
	var until time.Time
	for k, e := range l.entries {
		if until.IsZero() || e.lockedUntil.Before(until) {
			soonest, until = k, e.lockedUntil
		}
	}
	delete(l.entries, soonest)
}

// Len reports how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
