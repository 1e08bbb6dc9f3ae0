// Package session defines a login session, the Store that records every
// live one, and the memory backend. Other backends live in subpackages
// (session/redisstore) and all of them pass the one conformance suite in
// session/sessiontest.
//
// A session is the family of one login: every access and refresh token
// names its session id, and revoking the session stops every token of the
// family. Revocation also works by scope — one subject of a tenant, a whole
// tenant, or everything — through not-before epochs: a session created
// before its scope's epoch is dead. Check, the verify hot path, answers
// from memory in O(1) whatever the number of sessions.
package session

import (
	"context"
	"fmt"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/session/internal/codec"
)

// Session is one login: the family of tokens issued from it.
type Session struct {
	ID         string
	Subject    string
	Tenant     string
	Roles      []string
	Scopes     []string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is when the session ends: the store forgets it then. The
	// server sets it to min(created + absolute TTL, last refresh + idle TTL).
	ExpiresAt time.Time
	IP        string
	UserAgent string
	// RefreshID is the jti of the one refresh token that may be used next.
	// It never leaves the server.
	RefreshID string
}

// EpochGrace is how long past a session's absolute lifetime a store keeps
// a not-before epoch that could have covered it. A session created before
// an epoch has expired by the epoch plus the lifetime on the clock of the
// instance that created it; the grace covers instances whose clocks
// disagree by less than it, which the clock guard keeps them well within
// (CLOCK_SKEW_TOLERANCE is at most 30s).
const EpochGrace = time.Minute

// ForgetBefore is the instant before which a store with sessions of at most
// lifetime forgets not-before epochs at now: such an epoch covers only
// sessions that have expired, on every clock within EpochGrace of now.
func ForgetBefore(now time.Time, lifetime time.Duration) int64 {
	return now.Add(-lifetime - EpochGrace).UnixNano()
}

// Filter selects sessions in List. Empty fields match everything.
type Filter struct {
	Subject string
	Tenant  string
}

// Matches reports whether s passes f.
func (f Filter) Matches(s *Session) bool {
	return (f.Subject == "" || f.Subject == s.Subject) && (f.Tenant == "" || f.Tenant == s.Tenant)
}

// Errors returned by every Store. They wrap the relayauth sentinels so the
// HTTP layer maps them without knowing this package.
var (
	// ErrNotFound: unknown, expired or revoked. Callers do not learn which.
	ErrNotFound = fmt.Errorf("session %w", relayauth.ErrNotFound)
	// ErrExists: Create was given an id that is already in use.
	ErrExists = fmt.Errorf("session id %w", relayauth.ErrConflict)
	// ErrRefreshReused: Rotate was given a refresh id that is not the
	// current one. The store has revoked the whole session.
	ErrRefreshReused = fmt.Errorf("refresh token reused, session revoked: %w", relayauth.ErrUnauthenticated)
	// ErrUnavailable: the backend cannot be reached or its local state is
	// too old to vouch for. Callers fail closed.
	ErrUnavailable = fmt.Errorf("session store %w", relayauth.ErrUnavailable)
	// ErrInvalid: Create was given a session it cannot record (see
	// Session.Validate), or a revocation a time it cannot represent.
	ErrInvalid = fmt.Errorf("session %w", relayauth.ErrInvalid)
)

// Validate reports why a store cannot record s: an empty ID, or a
// CreatedAt, LastSeenAt or ExpiresAt outside the years 1678 to 2262 (the
// zero time.Time among them), which stores keep as int64 Unix nanoseconds.
// The error wraps ErrInvalid.
func (s *Session) Validate() error {
	if s.ID == "" {
		return fmt.Errorf("%w: empty id", ErrInvalid)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"CreatedAt", s.CreatedAt}, {"LastSeenAt", s.LastSeenAt}, {"ExpiresAt", s.ExpiresAt}} {
		if _, ok := codec.Nanos(f.t); !ok {
			return fmt.Errorf("%w: %s %v is out of range", ErrInvalid, f.name, f.t)
		}
	}
	return nil
}

// Store records sessions. Every method is safe for concurrent use. Times
// are passed in by the caller so tests control the clock; a session whose
// ExpiresAt is not after now is treated as absent by every method.
type Store interface {
	// Create records a new session. ErrExists if the id is taken.
	Create(ctx context.Context, s Session) error
	// Get returns a live session or ErrNotFound.
	Get(ctx context.Context, id string, now time.Time) (Session, error)
	// List returns the live sessions that match f, oldest first.
	List(ctx context.Context, f Filter, now time.Time) ([]Session, error)
	// Rotate atomically replaces the session's refresh id. If presented is
	// the current RefreshID, it becomes next, LastSeenAt becomes now,
	// ExpiresAt becomes expiresAt, and the updated session is returned.
	// Otherwise the session is revoked and ErrRefreshReused returned. Of
	// any number of concurrent calls with the same presented id, exactly
	// one succeeds.
	//
	// The same call made again (a client library's retry after the reply
	// was lost) succeeds again, with the same session, and revokes
	// nothing: when the session already holds next (not "") as its refresh
	// id, now as LastSeenAt and expiresAt as ExpiresAt, the rotation it
	// asks for has happened. Callers choose next at random, new for each
	// call, so no other call installs it; any other use of a replaced
	// refresh id is still reuse.
	Rotate(ctx context.Context, id, presented, next string, now, expiresAt time.Time) (Session, error)
	// Revoke ends one session. ErrNotFound if it is not live.
	Revoke(ctx context.Context, id string) error
	// RevokeSubject ends every session of subject in tenant created before
	// at (normally now) and returns how many were live.
	RevokeSubject(ctx context.Context, tenant, subject string, at time.Time) (int, error)
	// RevokeTenant ends every session of tenant created before at.
	RevokeTenant(ctx context.Context, tenant string, at time.Time) (int, error)
	// RevokeAll ends every session created before at.
	RevokeAll(ctx context.Context, at time.Time) (int, error)
	// Check is the token-verification hot path: nil when session id is
	// live at now and no revocation covers it. It answers from memory in
	// O(1) and makes no network round trip in the common case.
	Check(ctx context.Context, id string, now time.Time) error
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
