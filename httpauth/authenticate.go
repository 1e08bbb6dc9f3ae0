package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
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

// APIKeyVerifier verifies an X-API-Key credential. *apikey.Manager is one.
type APIKeyVerifier interface {
	Verify(ctx context.Context, raw string) (apikey.Identity, error)
}

// Authenticator verifies credentials and puts the Principal in the request
// context.
type Authenticator struct {
	tokens   *token.Verifier
	sessions SessionChecker
	keys     APIKeyVerifier // nil: API keys are not accepted
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

// WithAPIKeys makes Authenticate also accept an X-API-Key credential,
// verified by keys.
func WithAPIKeys(keys APIKeyVerifier) Option { return func(a *Authenticator) { a.keys = keys } }

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

// Authenticate requires one valid credential — a bearer access token, or
// an X-API-Key when the Authenticator has WithAPIKeys — and stores the
// caller in the request context for relayauth.FromContext. Both at once
// is refused: a request has one identity.
func (a *Authenticator) Authenticate(next http.Handler) http.Handler {
	return a.authenticate(next, true, a.keys != nil)
}

// AuthenticateJWT accepts only a bearer access token.
func (a *Authenticator) AuthenticateJWT(next http.Handler) http.Handler {
	return a.authenticate(next, true, false)
}

// AuthenticateAPIKey accepts only an X-API-Key (WithAPIKeys required).
func (a *Authenticator) AuthenticateAPIKey(next http.Handler) http.Handler {
	return a.authenticate(next, false, true)
}

func (a *Authenticator) authenticate(next http.Handler, jwt, keys bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p relayauth.Principal
		err := a.principal(r, &p, jwt, keys && a.keys != nil)
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
// refuse it and API keys there too, because URLs end up in logs.
var errQueryCredentials = fmt.Errorf("%w: credentials in the URL query are refused; send Authorization: Bearer or X-API-Key headers", relayauth.ErrInvalid)

var (
	errTwoCredentials    = fmt.Errorf("%w: send either Authorization or X-API-Key, not both", relayauth.ErrUnauthenticated)
	errAPIKeyNotAccepted = fmt.Errorf("%w: this route does not accept API keys", relayauth.ErrUnauthenticated)
	errManyAPIKeys       = fmt.Errorf("%w: more than one X-API-Key header", relayauth.ErrUnauthenticated)
	errLongAPIKey        = fmt.Errorf("%w: X-API-Key over %d bytes", relayauth.ErrUnauthenticated, MaxCredentialLen)
)

// apiKeyPrincipal authenticates the X-API-Key header values into p.
func (a *Authenticator) apiKeyPrincipal(r *http.Request, values []string, p *relayauth.Principal) error {
	switch {
	case len(values) > 1:
		return errManyAPIKeys
	case len(values[0]) > MaxCredentialLen:
		return errLongAPIKey
	}
	id, err := a.keys.Verify(r.Context(), values[0])
	if err != nil {
		return err
	}
	*p = relayauth.Principal{
		Subject: id.ID,
		Tenant:  id.Tenant,
		Roles:   id.Roles,
		Scopes:  id.Scopes,
		Method:  relayauth.MethodAPIKey,
	}
	return nil
}

// queryCredentialNames are query parameters that would carry a
// credential; any of them, in any case, refuses the request.
var queryCredentialNames = []string{"access_token", "api_key", "apikey", "x-api-key", "key", "token"}

// principal authenticates r into p with the credentials allowed.
func (a *Authenticator) principal(r *http.Request, p *relayauth.Principal, jwt, keys bool) error {
	if r.URL.RawQuery != "" {
		for name := range r.URL.Query() {
			for _, bad := range queryCredentialNames {
				if strings.EqualFold(name, bad) {
					return errQueryCredentials
				}
			}
		}
	}
	key := r.Header["X-Api-Key"]
	_, hasAuth := r.Header["Authorization"]
	switch {
	case len(key) > 0 && hasAuth:
		return errTwoCredentials
	case len(key) > 0 && keys:
		return a.apiKeyPrincipal(r, key, p)
	case len(key) > 0:
		return errAPIKeyNotAccepted
	case !jwt:
		return ErrNoCredentials
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
