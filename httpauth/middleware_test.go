package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/token"
)

type fixture struct {
	auth   *Authenticator
	issue  func(sub, tenant, sid string, roles, scopes []string) string
	store  *session.MemoryStore
	now    time.Time
	issuer *token.Issuer
	keys   *token.KeySet
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, err := token.GenerateKey(token.HS256)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := token.NewKeySet(key)
	now := time.Now()
	f := &fixture{store: session.NewMemoryStore(), now: now, issuer: token.NewIssuer(keys, "iss", []string{"aud"}), keys: keys}
	t.Cleanup(func() { f.store.Close() })
	f.auth = NewAuthenticator(token.NewVerifier(keys, "iss", "aud"), f.store, WithClock(func() time.Time { return now }))
	f.issue = func(sub, tenant, sid string, roles, scopes []string) string {
		t.Helper()
		if err := f.store.Create(context.Background(), session.Session{ID: sid, Subject: sub, Tenant: tenant,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), RefreshID: "r-" + sid}); err != nil {
			t.Fatal(err)
		}
		raw, err := f.issuer.Issue(token.Claims{Subject: sub, Tenant: tenant, SessionID: sid, ID: "j-" + sid, Type: token.Access,
			IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix(), Roles: roles, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	return f
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	admin := f.issue("root", "platform", "s-admin", []string{relayauth.RoleAdmin}, nil)
	reader := f.issue("ann", "acme", "s-ann", []string{"reader"}, []string{"orders:read"})
	revoked := f.issue("bob", "acme", "s-bob", []string{"reader"}, []string{"orders:read"})
	if err := f.store.Revoke(context.Background(), "s-bob"); err != nil {
		t.Fatal(err)
	}

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(p)
	})
	chain := func(mw ...func(http.Handler) http.Handler) http.Handler {
		h := http.Handler(ok)
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
	twoHeaders := func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+reader) }
	withKey := func(r *http.Request) { r.Header.Set("X-API-Key", "rk_test_whatever") }
	inQuery := func(r *http.Request) { r.URL.RawQuery = "access_token=" + reader }
	basic := func(r *http.Request) { r.Header.Set("Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l") }
	tests := []struct {
		name      string
		h         http.Handler
		token     string
		status    int
		challenge string
		prepare   func(*http.Request)
	}{
		{"authenticated", chain(f.auth.Authenticate), reader, 200, "", nil},
		{"no token", chain(f.auth.Authenticate), "", 401, `Bearer realm="relayauth"`, nil},
		{"revoked session", chain(f.auth.Authenticate), revoked, 401, `Bearer realm="relayauth", error="invalid_token"`, nil},
		{"scope held", chain(f.auth.Authenticate, RequireScope("orders:read")), reader, 200, "", nil},
		{"scope missing", chain(f.auth.Authenticate, RequireScope("orders:write")), reader, 403, `Bearer realm="relayauth", error="insufficient_scope"`, nil},
		{"admin holds every scope", chain(f.auth.Authenticate, RequireScope("orders:write")), admin, 200, "", nil},
		{"role held", chain(f.auth.Authenticate, RequireRole("writer", "reader")), reader, 200, "", nil},
		{"role missing", chain(f.auth.Authenticate, RequireRole(relayauth.RoleAdmin)), reader, 403, "", nil},
		{"require without authenticate fails closed", chain(RequireScope("orders:read")), reader, 401, `Bearer realm="relayauth", error="invalid_token"`, nil},
		// RFC 6750 §3.1: repeated or doubled credentials are invalid_request
		// (400); another scheme is a request without credentials.
		{"two Authorization headers", chain(f.auth.Authenticate), reader, 400, `Bearer realm="relayauth", error="invalid_request"`, twoHeaders},
		{"bearer and API key", chain(f.auth.Authenticate), reader, 400, `Bearer realm="relayauth", error="invalid_request"`, withKey},
		{"token in the query", chain(f.auth.Authenticate), "", 400, `Bearer realm="relayauth", error="invalid_request"`, inQuery},
		{"another scheme", chain(f.auth.Authenticate), "", 401, `Bearer realm="relayauth"`, basic},
		{"malformed bearer", chain(f.auth.Authenticate), "not a token", 401, `Bearer realm="relayauth", error="invalid_token"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.prepare != nil {
				tt.prepare(req)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if tt.status != 200 && rec.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("error is not problem+json")
			}
		})
	}
}

// A Redis outage (or any store that cannot vouch) is a 503, never a 200.
func TestVerifyAccessFailsClosed(t *testing.T) {
	f := newFixture(t)
	raw := f.issue("ann", "acme", "s1", nil, nil)
	cause := fmt.Errorf("%w: dial tcp 10.20.30.40:6379: connect: connection refused", session.ErrUnavailable)
	down := NewAuthenticator(f.auth.tokens, checkerFunc(func(context.Context, string, time.Time) error { return cause }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	down.Authenticate(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	// The driver's error names the store's address: it is for the log.
	if body := rec.Body.String(); strings.Contains(body, "10.20.30.40") || !strings.Contains(body, "temporarily unavailable") {
		t.Fatalf("503 body %s", body)
	}
}

type checkerFunc func(context.Context, string, time.Time) error

func (f checkerFunc) Check(ctx context.Context, id string, now time.Time) error {
	return f(ctx, id, now)
}

func TestRequireTenantAndEnabled(t *testing.T) {
	f := newFixture(t)
	admin := f.issue("root", "platform", "s-admin", []string{relayauth.RoleAdmin}, nil)
	ann := f.issue("ann", "acme", "s-ann", nil, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /tenants/{tenant}/orders", f.auth.Authenticate(RequireTenant(TenantFromPath("tenant"))(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))))
	on := false
	mux.Handle("GET /demo", Enabled(func() bool { return on })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	tests := []struct {
		path, token string
		status      int
	}{
		{"/tenants/acme/orders", ann, 200},
		{"/tenants/globex/orders", ann, 404},
		{"/tenants/globex/orders", admin, 200},
		{"/tenants/acme/orders", "", 401},
		{"/demo", "", 404},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.path, rec.Code, tt.status)
		}
	}
	on = true
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/demo", nil))
	if rec.Code != 200 {
		t.Errorf("enabled route: %d", rec.Code)
	}
}

// TestPrincipalLists: the Principal a handler sees carries the token's
// roles and scopes whether they fit the middleware's inline storage or
// not, and a handler appending to them cannot write into its neighbour.
func TestPrincipalLists(t *testing.T) {
	f := newFixture(t)
	many := make([]string, 2*listInline)
	for i := range many {
		many[i] = fmt.Sprintf("svc%d:read", i)
	}
	for _, tc := range []struct {
		name          string
		roles, scopes []string
	}{
		{"none", nil, nil},
		{"inline", []string{"reader", "writer"}, []string{"orders:read", "orders:write"}},
		{"over the inline storage", []string{"reader"}, many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := f.issue("ann", "acme", "s-"+strings.ReplaceAll(tc.name, " ", "-"), tc.roles, tc.scopes)
			var got relayauth.Principal
			h := f.auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, ok := relayauth.FromContext(r.Context())
				if !ok {
					t.Fatal("no principal in the context")
				}
				got = *p
				_ = append(p.Roles, "appended") // must not reach Scopes
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+raw)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if !slices.Equal(got.Roles, tc.roles) || !slices.Equal(got.Scopes, tc.scopes) {
				t.Fatalf("roles %q scopes %q, want %q %q", got.Roles, got.Scopes, tc.roles, tc.scopes)
			}
			if got.Subject != "ann" || got.Tenant != "acme" || got.Method != relayauth.MethodJWT {
				t.Fatalf("principal %+v", got)
			}
		})
	}
}

// TestMiddlewareAllocations pins what authenticating a request allocates:
// the payload string and one object holding the request copy, the
// context and the Principal's lists, the same count as VerifyAccess.
func TestMiddlewareAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	f := newFixture(t)
	raw := f.issue("ann", "acme", "s-1", []string{"reader", "writer"}, []string{"orders:read", "orders:write", "profile"})
	h := f.auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	w := httptest.NewRecorder()
	verify := testing.AllocsPerRun(100, func() {
		if _, err := f.auth.VerifyAccess(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	})
	mw := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) })
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if mw > verify || mw > 2 {
		t.Errorf("middleware %v allocs per request, VerifyAccess %v: budget 2 and no more than VerifyAccess", mw, verify)
	}
}

// TestRequireRefusesImpossibleRequirements: a requirement no token could
// meet is a wiring mistake caught when the route is built, not a route
// that silently denies everyone.
func TestRequireRefusesImpossibleRequirements(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func()
	}{
		{"no roles", func() { RequireRole() }},
		{"empty role", func() { RequireRole("reader", "") }},
		{"role with a space", func() { RequireRole("tenant admin") }},
		{"empty scope", func() { RequireScope("") }},
		{"scope with a space", func() { RequireScope("orders:read orders:write") }},
		{"scope with a newline", func() { RequireScope("orders:read\n") }},
		{"non-ASCII scope", func() { RequireScope("commandes:lire→") }},
		{"overlong scope", func() { RequireScope(strings.Repeat("s", 129)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if v == nil {
					t.Fatal("built without a panic")
				}
				if msg, _ := v.(string); !strings.HasPrefix(msg, "httpauth: Require") {
					t.Fatalf("panic %v does not name the function", v)
				}
			}()
			tc.build()
		})
	}
	// The names Relay Auth uses, and ordinary application ones, build.
	RequireRole(relayauth.KnownRoles()...)
	for _, s := range append(relayauth.KnownScopes(), "orders:read", "profile", strings.Repeat("s", 128)) {
		RequireScope(s)
	}
}

// TestAPIKeyPrincipalIsTheRequests: a handler that writes into its
// Principal's scopes or roles changes nothing for the next request with
// the same key (the key index's slices are never handed out).
func TestAPIKeyPrincipalIsTheRequests(t *testing.T) {
	f := newFixture(t)
	keys, err := apikey.NewManager(apikey.NewMemoryStore(), apikey.EnvTest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	many := make([]string, 2*listInline)
	for i := range many {
		many[i] = fmt.Sprintf("svc%d:read", i)
	}
	auth := NewAuthenticator(f.auth.tokens, f.store, WithAPIKeys(keys))
	for _, tc := range []struct {
		name          string
		roles, scopes []string
	}{
		{"inline", []string{"reader"}, []string{"orders:read", "orders:write"}},
		{"over the inline storage", []string{"reader"}, many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, raw, err := keys.Create(context.Background(), apikey.CreateRequest{Name: strings.ReplaceAll(tc.name, " ", "-"), Tenant: "acme", Roles: tc.roles, Scopes: tc.scopes})
			if err != nil {
				t.Fatal(err)
			}
			var seen [][]string
			h := auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, _ := relayauth.FromContext(r.Context())
				seen = append(seen, slices.Clone(p.Scopes), slices.Clone(p.Roles))
				p.Scopes[0], p.Roles[0] = relayauth.ScopeTokensIssue, relayauth.RoleAdmin // a misbehaving handler
			}))
			for range 2 {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("X-API-Key", raw.Reveal())
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			for i := 0; i < len(seen); i += 2 {
				if !slices.Equal(seen[i], tc.scopes) || !slices.Equal(seen[i+1], tc.roles) {
					t.Fatalf("request %d saw scopes %q roles %q, want %q %q", i/2+1, seen[i], seen[i+1], tc.scopes, tc.roles)
				}
			}
		})
	}
}

// TestCachedTokenStillRevocable: with the verifier's token cache on, a
// token it remembers is refused as soon as its session is revoked: the
// cache skips the signature, never the session check.
func TestCachedTokenStillRevocable(t *testing.T) {
	f := newFixture(t)
	raw := f.issue("ann", "acme", "s-cached", []string{"reader"}, []string{"orders:read"})
	auth := NewAuthenticator(token.NewVerifier(f.keys, "iss", "aud", token.WithCache(16), token.WithClock(func() time.Time { return f.now })),
		f.store, WithClock(func() time.Time { return f.now }))
	for range 3 { // the first fills the cache, the others hit it
		if _, err := auth.VerifyAccess(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.Revoke(context.Background(), "s-cached"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.VerifyAccess(context.Background(), raw); !errors.Is(err, ErrSessionNotLive) {
		t.Fatalf("a remembered token of a revoked session: %v", err)
	}
}
