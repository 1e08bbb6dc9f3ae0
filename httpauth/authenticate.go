package httpauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/urlenc"
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
	var c token.Claims
	if err := a.verifyAccess(ctx, raw, &c, nil); err != nil {
		return token.Claims{}, err
	}
	return c, nil
}

// verifyAccess is VerifyAccess writing to *c, with list backing the
// claims' string lists when they fit (token.Verifier.VerifyAccessInto).
func (a *Authenticator) verifyAccess(ctx context.Context, raw string, c *token.Claims, list []string) error {
	var start time.Time
	timed := a.timing != nil && a.sampled.Add(1)%TimingSampleRate == 0
	if timed {
		start = time.Now()
	}
	err := a.tokens.VerifyAccessInto(raw, c, list)
	if timed {
		a.timing(time.Since(start))
	}
	if err != nil {
		return err
	}
	if err := a.sessions.Check(ctx, c.SessionID, a.now()); err != nil {
		*c = token.Claims{}
		if errors.Is(err, relayauth.ErrUnavailable) {
			return err // fail closed, but say why: 503
		}
		return ErrSessionNotLive
	}
	return nil
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

// authenticated is what authenticating a request adds to it, in one
// allocation: the request copy that carries the new context (net/http's
// only way to pass it on), that context with the Principal, and the
// backing of the Principal's roles and scopes. It is allocated whatever
// the outcome: a refusal costs more than this anyway (a problem body).
type authenticated struct {
	req  http.Request
	ctx  relayauth.PrincipalContext
	list [listInline]string
}

// listInline holds a token's audiences, roles and scopes together in the
// usual case (one audience, a few of each); longer lists get a slice.
const listInline = 8

func (a *Authenticator) authenticate(next http.Handler, jwt, keys bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, next, jwt, keys)
	})
}

// serve authenticates r and passes it on to next. It is a method, not the
// closure's body, so that it is compiled here once, where WithContext is
// inlined and its copy of the request stays on the stack.
func (a *Authenticator) serve(w http.ResponseWriter, r *http.Request, next http.Handler, jwt, keys bool) {
	st := new(authenticated)
	if err := a.principal(r, &st.ctx.Principal, st.list[:], jwt, keys && a.keys != nil); err != nil {
		observe(r, Decision{Err: err})
		WriteError(w, r, a.log, err)
		return
	}
	st.ctx.Context = r.Context()
	st.req = *r.WithContext(&st.ctx)
	r = &st.req
	if hasObserver(r) {
		observe(r, Decision{Principal: &st.ctx.Principal})
	}
	next.ServeHTTP(w, r)
}

// errQueryCredentials: RFC 6750 §2.3 allows a token in the query; we
// refuse it and API keys there too, because URLs end up in logs.
var errQueryCredentials = fmt.Errorf("%w in the URL query are refused; send an Authorization: Bearer or X-API-Key header", errCredentialsRequest)

var (
	errTwoCredentials    = fmt.Errorf("%w in both Authorization and X-API-Key; send one", errCredentialsRequest)
	errAPIKeyNotAccepted = fmt.Errorf("%w: this route does not accept API keys", relayauth.ErrUnauthenticated)
	errManyAPIKeys       = fmt.Errorf("%w in more than one X-API-Key header", errCredentialsRequest)
	errLongAPIKey        = fmt.Errorf("%w: X-API-Key over %d bytes", relayauth.ErrUnauthenticated, MaxCredentialLen)
)

// apiKeyPrincipal authenticates the X-API-Key header values into p. The
// Identity's slices belong to the key index: the Principal gets copies,
// in list when they fit, so no handler can change what other requests
// with the same key are allowed.
func (a *Authenticator) apiKeyPrincipal(r *http.Request, values []string, p *relayauth.Principal, list []string) error {
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
	roles, list := clone(id.Roles, list)
	scopes, _ := clone(id.Scopes, list)
	*p = relayauth.Principal{
		Subject:   id.ID,
		Tenant:    id.Tenant,
		Roles:     roles,
		Scopes:    scopes,
		Method:    relayauth.MethodAPIKey,
		ExpiresAt: id.ExpiresAt,
	}
	return nil
}

// clone copies s into the front of list when it fits, else into a new
// slice, and returns the copy (capacity equal to its length) and what is
// left of list.
func clone(s, list []string) ([]string, []string) {
	if len(s) == 0 {
		return nil, list
	}
	if len(s) > len(list) {
		return slices.Clip(slices.Clone(s)), list
	}
	n := copy(list, s)
	return list[:n:n], list[n:]
}

// queryCredentialNames are query parameters that would carry a
// credential; any of them, in any case, refuses the request.
var queryCredentialNames = []string{"access_token", "api_key", "apikey", "x-api-key", "key", "token"}

// errBadQuery: a query string that does not parse.
var errBadQuery = fmt.Errorf("%w: malformed URL query", relayauth.ErrInvalid)

// CheckQuery refuses a URL query that carries a credential under any of
// the names Authenticate refuses (access_token, api_key, token, ...; in
// any case), as the same invalid_request, and one that does not parse.
// For URLs Authenticate does not see itself, such as the original request
// a gateway forwards for authentication.
func CheckQuery(rawQuery string) error {
	credential, malformed := scanQuery(rawQuery)
	switch {
	case malformed:
		return errBadQuery
	case credential:
		return errQueryCredentials
	}
	return nil
}

// maxQueryParams is url.ParseQuery's limit on a query's fields (its
// GODEBUG urlmaxqueryparams default); a query over it does not parse.
const maxQueryParams = 10000

// scanQuery reads a URL query as url.ParseQuery does, without building
// it: credential reports a field ParseQuery would keep whose name is a
// credential name (isCredentialName); malformed, that ParseQuery would
// return an error. Unlike ParseQuery it still looks for credentials in a
// query over maxQueryParams. FuzzScanQuery checks it against ParseQuery.
// It runs on every request with a query, so it allocates nothing.
func scanQuery(raw string) (credential, malformed bool) {
	malformed = strings.Count(raw, "&") >= maxQueryParams
	for raw != "" {
		var field string
		field, raw, _ = strings.Cut(raw, "&")
		if strings.IndexByte(field, ';') >= 0 {
			malformed = true
			continue
		}
		if field == "" {
			continue
		}
		k, v, _ := strings.Cut(field, "=")
		var buf [maxCredentialNameBytes]byte
		name, fits, ok := unescapeQuery(buf[:0], k)
		if !ok || !urlenc.ValidEscapes(v) {
			malformed = true
			continue
		}
		if fits && isCredentialNameBytes(name) {
			credential = true
		}
	}
	return credential, malformed
}

// maxCredentialNameBytes bounds a name that can fold to a credential
// name: the longest, access_token, has 12 letters, and no ASCII letter
// has a case variant longer than 3 bytes (the Kelvin sign, U+212A).
const maxCredentialNameBytes = 36

// unescapeQuery appends s, query-unescaped ('+' is a space), to dst while
// it fits in dst's capacity; fits is false when it did not. ok is false
// for an invalid %-escape, as url.QueryUnescape reports.
func unescapeQuery(dst []byte, s string) (out []byte, fits, ok bool) {
	if !urlenc.ValidEscapes(s) {
		return dst, false, false
	}
	fits = true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			c = urlenc.Unhex(s[i+1])<<4 | urlenc.Unhex(s[i+2])
			i += 2
		case '+':
			c = ' '
		}
		if len(dst) == cap(dst) {
			fits = false
			continue
		}
		dst = append(dst, c)
	}
	return dst, fits, true
}

// isCredentialNameBytes reports whether name is one of
// queryCredentialNames, in any case (Unicode folding, as
// strings.EqualFold: "\u212Aey" is "key").
func isCredentialNameBytes(name []byte) bool {
	for _, bad := range queryCredentialNames {
		// A case variant of an ASCII letter takes 1 to 3 bytes.
		if len(name) < len(bad) || len(name) > 3*len(bad) {
			continue
		}
		if bytes.EqualFold(name, []byte(bad)) { // a short, non-escaping copy: on the stack
			return true
		}
	}
	return false
}

// principal authenticates r into p with the credentials allowed; list
// backs the roles and scopes of a bearer token when they fit.
func (a *Authenticator) principal(r *http.Request, p *relayauth.Principal, list []string, jwt, keys bool) error {
	if r.URL.RawQuery != "" {
		// A query that does not parse is the handler's to refuse.
		if credential, _ := scanQuery(r.URL.RawQuery); credential {
			return errQueryCredentials
		}
	}
	key := r.Header["X-Api-Key"]
	auth := r.Header["Authorization"] // canonical names: no Get() cost
	switch {
	case len(key) > 0 && len(auth) > 0:
		return errTwoCredentials
	case len(key) > 0 && keys:
		return a.apiKeyPrincipal(r, key, p, list)
	case len(key) > 0:
		return errAPIKeyNotAccepted
	case !jwt:
		return ErrNoCredentials
	}
	v, err := only(auth)
	if err != nil {
		return err
	}
	raw, err := bearerCredential(v)
	if err != nil {
		return err
	}
	var c token.Claims
	if err := a.verifyAccess(r.Context(), raw, &c, list); err != nil {
		return err
	}
	*p = relayauth.Principal{
		Subject:   c.Subject,
		Tenant:    c.Tenant,
		Roles:     c.Roles,
		Scopes:    c.Scopes,
		SessionID: c.SessionID,
		Method:    relayauth.MethodJWT,
		ExpiresAt: time.Unix(c.ExpiresAt, 0),
	}
	return nil
}
