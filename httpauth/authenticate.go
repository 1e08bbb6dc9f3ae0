package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/token"
)

// SessionChecker answers whether a session may still be used. The session
// stores implement it; Check must answer from memory (it is on every
// request).
type SessionChecker interface {
	Check(ctx context.Context, id string, now time.Time) error
}

// ErrSessionNotLive: the token verifies but its session was revoked,
// expired or never existed.
var ErrSessionNotLive = fmt.Errorf("%w: session revoked, expired or unknown", relayauth.ErrUnauthenticated)

// Authenticator verifies credentials and puts the Principal in the request
// context.
type Authenticator struct {
	tokens   *token.Verifier
	sessions SessionChecker
	now      func() time.Time
	log      *slog.Logger
	timing   func(time.Duration)
	sampled  atomic.Uint32
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithClock sets the clock used for session checks (tests).
func WithClock(now func() time.Time) Option { return func(a *Authenticator) { a.now = now } }

// WithVerifyTiming reports how long token verification took, for a
// latency histogram. It samples one verification in TimingSampleRate, so
// reading the clock stays off the hot path of the others.
func WithVerifyTiming(observe func(time.Duration)) Option {
	return func(a *Authenticator) { a.timing = observe }
}

// TimingSampleRate: one verification in this many is timed.
const TimingSampleRate = 16

// WithLogger sets where internal errors are logged. Credentials never are.
func WithLogger(l *slog.Logger) Option { return func(a *Authenticator) { a.log = l } }

// NewAuthenticator returns an Authenticator that accepts access tokens
// verified by tokens whose session sessions vouches for. Both are
// required: a token is never accepted on its signature alone.
func NewAuthenticator(tokens *token.Verifier, sessions SessionChecker, opts ...Option) *Authenticator {
	a := &Authenticator{tokens: tokens, sessions: sessions, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// VerifyAccess verifies an access token and its session: the whole check
// behind every authenticated request.
func (a *Authenticator) VerifyAccess(ctx context.Context, raw string) (token.Claims, error) {
	var start time.Time
	timed := a.timing != nil && a.sampled.Add(1)%TimingSampleRate == 0
	if timed {
		start = time.Now()
	}
	c, err := a.tokens.VerifyAccess(raw)
	if timed {
		a.timing(time.Since(start))
	}
	if err != nil {
		return token.Claims{}, err
	}
	if err := a.sessions.Check(ctx, c.SessionID, a.now()); err != nil {
		if errors.Is(err, relayauth.ErrUnavailable) {
			return token.Claims{}, err // fail closed, but say why: 503
		}
		return token.Claims{}, ErrSessionNotLive
	}
	return c, nil
}

// Authenticate requires a valid bearer access token and stores the caller
// in the request context for relayauth.FromContext.
func (a *Authenticator) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p relayauth.Principal
		err := a.principal(r, &p)
		if err != nil {
			observe(r, Decision{Err: err})
			WriteError(w, r, a.log, err)
			return
		}
		r = r.WithContext(relayauth.NewContext(r.Context(), &p))
		if hasObserver(r) {
			pp, _ := relayauth.FromContext(r.Context())
			observe(r, Decision{Principal: pp})
		}
		next.ServeHTTP(w, r)
	})
}

// errQueryCredentials: RFC 6750 §2.3 allows a token in the query; we
// refuse it, because URLs end up in logs.
var errQueryCredentials = fmt.Errorf("%w: credentials in the URL query are refused; use the Authorization header", relayauth.ErrInvalid)

// principal authenticates r into p.
func (a *Authenticator) principal(r *http.Request, p *relayauth.Principal) error {
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return errQueryCredentials
	}
	v, err := authorization(r.Header)
	if err != nil {
		return err
	}
	raw, err := bearerCredential(v)
	if err != nil {
		return err
	}
	c, err := a.VerifyAccess(r.Context(), raw)
	if err != nil {
		return err
	}
	*p = relayauth.Principal{
		Subject:   c.Subject,
		Tenant:    c.Tenant,
		Roles:     c.Roles,
		Scopes:    c.Scopes,
		SessionID: c.SessionID,
		Method:    relayauth.MethodJWT,
	}
	return nil
}
