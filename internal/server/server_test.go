package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/migrate"
	"github.com/relayauth/relayauth/internal/password"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/token"
)

const testAdminPassword = "correct horse battery staple"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type harness struct {
	t        testing.TB
	h        http.Handler
	clock    *clock
	sessions session.Store
	keys     *token.KeySet
	logs     *syncBuffer
}

type harnessOpt func(*Deps)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	key, err := token.GenerateKey(token.HS256)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	admin, err := hasher.Hash(context.Background(), testAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{
		Log:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Keys:       keys,
		Issuer:     token.NewIssuer(keys, "relay-test", []string{"relay-aud"}),
		Verifier:   token.NewVerifier(keys, "relay-test", "relay-aud", token.WithClock(clk.Now)),
		Sessions:   session.NewMemoryStore(),
		APIKeys:    newKeyManager(t, clk),
		Hasher:     hasher,
		Admin:      admin,
		Now:        clk.Now,
		AccessTTL:  5 * time.Minute,
		RefreshTTL: time.Hour,
		SessionTTL: 24 * time.Hour,
	}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Sessions.Close() })
	return &harness{t: t, h: h, clock: clk, sessions: d.Sessions, keys: keys, logs: logs}
}

func newKeyManager(t testing.TB, clk *clock) *apikey.Manager {
	t.Helper()
	m, err := apikey.NewManager(apikey.NewMemoryStore(), apikey.EnvTest, apikey.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (h *harness) verifier() *token.Verifier {
	return token.NewVerifier(h.keys, "relay-test", "relay-aud", token.WithClock(h.clock.Now))
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request through the whole handler. body may be a string
// (sent as JSON) or url.Values (sent as a form).
func (h *harness) do(method, path, bearer string, body any, hdr ...string) response {
	h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		h.t.Fatalf("body of type %T", body)
	}
	req := httptest.NewRequest(method, path, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

func (h *harness) decodePair(r response) pair {
	h.t.Helper()
	if r.status != http.StatusOK {
		h.t.Fatalf("want 200 with a token pair, got %d: %s", r.status, r.body)
	}
	var p pair
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatal(err)
	}
	if p.AccessToken == "" || p.RefreshToken == "" || p.TokenType != "Bearer" || p.SessionID == "" || p.ExpiresIn <= 0 {
		h.t.Fatalf("incomplete token pair: %s", r.body)
	}
	return p
}

func (h *harness) loginAdmin() pair {
	h.t.Helper()
	return h.decodePair(h.do("POST", "/auth/login", "", `{"username":"admin","password":"`+testAdminPassword+`"}`))
}

// issue mints a pair for a principal through /auth/tokens as the admin.
func (h *harness) issue(admin pair, subject, tenant string, roles, scopes []string) pair {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"subject": subject, "tenant": tenant, "roles": roles, "scopes": scopes})
	return h.decodePair(h.do("POST", "/auth/tokens", admin.AccessToken, string(body)))
}

func wantProblem(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	m := r.json(t)
	if int(m["status"].(float64)) != status || m["title"] == "" || m["type"] == "" {
		t.Fatalf("problem body %s lacks type/title/status", r.body)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("401 without a Bearer WWW-Authenticate challenge: %q", r.header.Get("WWW-Authenticate"))
	}
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		body   string
		ct     string
		status int
	}{
		{"good", `{"username":"admin","password":"` + testAdminPassword + `"}`, "application/json", 200},
		{"wrong password", `{"username":"admin","password":"nope"}`, "application/json", 401},
		{"unknown user", `{"username":"mallory","password":"nope"}`, "application/json", 401},
		{"empty password", `{"username":"admin","password":""}`, "application/json", 400},
		{"malformed json", `{"username":`, "application/json", 400},
		{"unknown field", `{"username":"admin","password":"x","admin":true}`, "application/json", 400},
		{"two objects", `{"username":"admin","password":"x"}{}`, "application/json", 400},
		{"wrong type", `{"username":1,"password":"x"}`, "application/json", 400},
		{"wrong content type", `username=admin`, "text/plain", 415},
		{"oversized", `{"username":"` + strings.Repeat("a", MaxBodyBytes) + `","password":"x"}`, "application/json", 413},
		{"a name twice", `{"username":"nobody","username":"admin","password":"` + testAdminPassword + `"}`, "application/json", 400},
		{"a name in upper case", `{"USERNAME":"admin","password":"` + testAdminPassword + `"}`, "application/json", 400},
		{"two content types", `{"username":"admin","password":"x"}`, "application/json,text/plain", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(tt.body))
			req.Header["Content-Type"] = strings.Split(tt.ct, ",")
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			r := response{rec.Code, rec.Header(), rec.Body.Bytes()}
			if tt.status == 200 {
				h.decodePair(r)
				return
			}
			wantProblem(t, r, tt.status)
		})
	}
	sessions, err := h.sessions.List(context.Background(), session.Filter{}, h.clock.Now())
	if err != nil || len(sessions) != 1 {
		t.Fatalf("want exactly the one good login recorded, got %d sessions (%v)", len(sessions), err)
	}
}

// Unknown users and wrong passwords get the same answer (security.md 17).
func TestLoginNoEnumeration(t *testing.T) {
	h := newHarness(t)
	a := h.do("POST", "/auth/login", "", `{"username":"admin","password":"wrong"}`)
	b := h.do("POST", "/auth/login", "", `{"username":"nobody","password":"wrong"}`)
	if a.status != b.status || !bytes.Equal(a.body, b.body) || a.header.Get("WWW-Authenticate") != b.header.Get("WWW-Authenticate") {
		t.Fatalf("answers differ:\n%d %s\n%d %s", a.status, a.body, b.status, b.body)
	}
}

func TestMe(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	r := h.do("GET", "/auth/me", p.AccessToken, nil)
	if r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["subject"] != "admin" || m["tenant"] != AdminTenant || m["method"] != "jwt" || m["session_id"] != p.SessionID {
		t.Fatalf("me answered %s", r.body)
	}
	if roles := m["roles"].([]any); len(roles) != 1 || roles[0] != "admin" {
		t.Fatalf("roles %v", roles)
	}
}

// RFC 6750 §3.1: error="invalid_token" is about a token the request
// presented. A wrong password or a dead refresh token in a body is a 401
// whose challenge carries no error code.
func TestChallengeWithoutPresentedToken(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	if r := h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`); r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	for name, r := range map[string]response{
		"wrong password":     h.do("POST", "/auth/login", "", `{"username":"admin","password":"nope"}`),
		"dead refresh token": h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`),
	} {
		wantProblem(t, r, 401)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="relayauth"` {
			t.Errorf("%s: WWW-Authenticate %q", name, got)
		}
	}
}

// A 404 for an unknown path does not repeat it: it may hold a token.
func TestNoRouteDoesNotEchoThePath(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	r := h.do("GET", "/nope/"+p.AccessToken, "", nil)
	wantProblem(t, r, 404)
	if strings.Contains(string(r.body), p.AccessToken[:20]) {
		t.Fatalf("404 body repeats the path: %s", r.body)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	manyDots := strings.Repeat(".", 10000)
	tests := []struct {
		name      string
		header    string
		status    int
		challenge string
	}{
		{"no credentials", "", 401, `Bearer realm="relayauth"`},
		{"refresh token as access token", "Bearer " + p.RefreshToken, 401, `Bearer realm="relayauth", error="invalid_token"`},
		{"garbage", "Bearer abc.def.ghi", 401, `Bearer realm="relayauth", error="invalid_token"`},
		{"10000 dots", "Bearer " + manyDots, 401, `Bearer realm="relayauth", error="invalid_token"`},
		// RFC 6750 §3.1: another scheme is answered like no credentials.
		{"wrong scheme", "Basic YWRtaW46eA==", 401, `Bearer realm="relayauth"`},
		{"tampered", "Bearer " + p.AccessToken[:len(p.AccessToken)-2] + "AA", 401, `Bearer realm="relayauth", error="invalid_token"`},
		{"lower-case scheme", "bearer " + p.AccessToken, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.header == "" {
				r = h.do("GET", "/auth/me", "", nil)
			} else {
				r = h.do("GET", "/auth/me", "", nil, "Authorization", tt.header)
			}
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			wantProblem(t, r, tt.status)
			if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
		})
	}
	t.Run("1 MiB header", func(t *testing.T) {
		r := h.do("GET", "/auth/me", "", nil, "X-Big", strings.Repeat("a", 1<<20))
		wantProblem(t, r, http.StatusRequestHeaderFieldsTooLarge)
	})
	t.Run("token in query", func(t *testing.T) {
		r := h.do("GET", "/auth/me?access_token="+p.AccessToken, "", nil)
		wantProblem(t, r, http.StatusBadRequest)
	})
}

// Expiry: the access token dies at its exp (plus leeway); refresh renews.
func TestAccessTokenExpiry(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	h.clock.Advance(5*time.Minute + time.Minute)
	wantProblem(t, h.do("GET", "/auth/me", p.AccessToken, nil), 401)
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`))
	if r := h.do("GET", "/auth/me", np.AccessToken, nil); r.status != 200 {
		t.Fatalf("refreshed token rejected: %d %s", r.status, r.body)
	}
}

// security.md 13: idle and absolute timeouts end the session.
func TestSessionTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		h := newHarness(t)
		p := h.loginAdmin()
		h.clock.Advance(time.Hour + time.Second)
		wantProblem(t, h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`), 401)
	})
	t.Run("absolute", func(t *testing.T) {
		h := newHarness(t)
		p := h.loginAdmin()
		for i := 0; i < 30; i++ { // refresh every 50 minutes: never idle
			h.clock.Advance(50 * time.Minute)
			r := h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`)
			if r.status != 200 {
				if elapsed := time.Duration(i+1) * 50 * time.Minute; elapsed < 24*time.Hour {
					t.Fatalf("refresh failed after %v, before the absolute timeout: %s", elapsed, r.body)
				}
				return
			}
			p = h.decodePair(r)
		}
		t.Fatal("session outlived its absolute timeout")
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`))
	if np.SessionID != p.SessionID || np.RefreshToken == p.RefreshToken {
		t.Fatal("refresh must keep the session and rotate the refresh token")
	}
	// The old refresh token is dead; presenting it revokes the family.
	wantProblem(t, h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`), 401)
	wantProblem(t, h.do("GET", "/auth/me", np.AccessToken, nil), 401)
	wantProblem(t, h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+np.RefreshToken+`"}`), 401)
	if !strings.Contains(h.logs.String(), "refresh token reuse") {
		t.Fatal("reuse was not logged")
	}
	// Access token where a refresh token belongs.
	q := h.loginAdmin()
	wantProblem(t, h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+q.AccessToken+`"}`), 401)
}

// security.md 11: 20 concurrent refreshes of one token yield one pair.
func TestConcurrentRefreshOneWinner(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`).status
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 401:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", ok)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	other := h.loginAdmin()
	if r := h.do("POST", "/auth/logout", p.AccessToken, nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantProblem(t, h.do("GET", "/auth/me", p.AccessToken, nil), 401)
	wantProblem(t, h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`), 401)
	if r := h.do("GET", "/auth/me", other.AccessToken, nil); r.status != 200 {
		t.Fatal("logout ended another session")
	}
}

func TestIssueTokens(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	svc := h.issue(admin, "billing-svc", "acme", []string{"service", "reader"}, []string{relayauth.ScopeTokensIssue, "orders:read"})
	ta := h.issue(admin, "alice", "acme", []string{relayauth.RoleTenantAdmin}, nil)
	tests := []struct {
		name   string
		caller string
		body   string
		status int
	}{
		{"service mints in its tenant", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":["reader"],"scopes":["orders:read"]}`, 200},
		{"service mints in another tenant", svc.AccessToken, `{"subject":"bob","tenant":"globex","roles":[],"scopes":[]}`, 403},
		{"service grants admin", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":["admin"],"scopes":[]}`, 403},
		{"service grants tenant_admin", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":["tenant_admin"],"scopes":[]}`, 403},
		{"service grants a scope it lacks", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":[],"scopes":["api_keys:write"]}`, 403},
		{"service grants an application scope it lacks", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":[],"scopes":["orders:write"]}`, 403},
		{"service grants a role it lacks", svc.AccessToken, `{"subject":"bob","tenant":"acme","roles":["writer"],"scopes":[]}`, 403},
		{"caller without tokens:issue", ta.AccessToken, `{"subject":"bob","tenant":"acme"}`, 403},
		{"bad subject", admin.AccessToken, `{"subject":"bo b","tenant":"acme"}`, 400},
		{"missing tenant", admin.AccessToken, `{"subject":"bob"}`, 400},
		{"scope with a space", admin.AccessToken, `{"subject":"bob","tenant":"acme","scopes":["a b"]}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/auth/tokens", tt.caller, tt.body)
			if tt.status == 200 {
				p := h.decodePair(r)
				me := h.do("GET", "/auth/me", p.AccessToken, nil).json(t)
				if me["subject"] != "bob" || me["tenant"] != "acme" {
					t.Fatalf("minted token is for %v", me)
				}
				return
			}
			wantProblem(t, r, tt.status)
		})
	}
	r := h.do("POST", "/auth/tokens", ta.AccessToken, `{"subject":"bob","tenant":"acme"}`)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="insufficient_scope"`) {
		t.Fatalf("403 for a missing scope must say insufficient_scope, got %q", got)
	}
}

func TestIntrospect(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	introspector := h.issue(admin, "gateway", "acme", nil, []string{relayauth.ScopeTokensIntrospect})
	acme := h.issue(admin, "bob", "acme", nil, []string{"orders:read"})
	globex := h.issue(admin, "carol", "globex", nil, nil)
	form := func(tok string) url.Values { return url.Values{"token": {tok}} }

	tests := []struct {
		name   string
		token  string
		active bool
		typ    string
	}{
		{"live access token", acme.AccessToken, true, "access_token"},
		{"current refresh token", acme.RefreshToken, true, "refresh_token"},
		{"another tenant's token", globex.AccessToken, false, ""},
		{"garbage", "not-a-token", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/auth/introspect", introspector.AccessToken, form(tt.token))
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.json(t)
			if m["active"] != tt.active {
				t.Fatalf("active=%v, want %v: %s", m["active"], tt.active, r.body)
			}
			if !tt.active {
				if len(m) != 1 {
					t.Fatalf("an inactive answer says only active:false, got %s", r.body)
				}
				return
			}
			if m["token_type"] != tt.typ || m["sub"] != "bob" || m["tenant"] != "acme" || m["scope"] != "orders:read" {
				t.Fatalf("introspection %s", r.body)
			}
		})
	}
	// After rotation the old refresh token and, after logout, the access token are inactive.
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+acme.RefreshToken+`"}`))
	if m := h.do("POST", "/auth/introspect", introspector.AccessToken, form(acme.RefreshToken)).json(t); m["active"] != false {
		t.Fatal("a used refresh token introspects as active")
	}
	h.do("POST", "/auth/logout", np.AccessToken, nil)
	if m := h.do("POST", "/auth/introspect", introspector.AccessToken, form(np.AccessToken)).json(t); m["active"] != false {
		t.Fatal("a logged-out access token introspects as active")
	}
	wantProblem(t, h.do("POST", "/auth/introspect", introspector.AccessToken, `{"token":"x"}`), 415)
	plain := h.issue(admin, "dave", "acme", nil, nil)
	wantProblem(t, h.do("POST", "/auth/introspect", plain.AccessToken, form(plain.AccessToken)), 403)
}

func listIDs(t *testing.T, r response) map[string]bool {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	var body struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range body.Sessions {
		ids[s["id"].(string)] = true
		for _, k := range []string{"subject", "tenant", "created_at", "last_seen_at", "expires_at", "ip", "user_agent"} {
			if _, ok := s[k]; !ok {
				t.Fatalf("session lacks %q: %v", k, s)
			}
		}
		if _, ok := s["refresh_id"]; ok {
			t.Fatal("session list leaks the refresh id")
		}
	}
	return ids
}

// security.md 19: object-level checks; another tenant's session is a 404.
func TestSessionsObjectLevel(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	alice := h.issue(admin, "alice", "acme", nil, nil)
	alice2 := h.issue(admin, "alice", "acme", nil, nil)
	bob := h.issue(admin, "bob", "acme", nil, nil)
	acmeAdmin := h.issue(admin, "root", "acme", []string{relayauth.RoleTenantAdmin}, nil)
	carol := h.issue(admin, "carol", "globex", nil, nil)

	ids := listIDs(t, h.do("GET", "/auth/sessions", alice.AccessToken, nil))
	if len(ids) != 2 || !ids[alice.SessionID] || !ids[alice2.SessionID] {
		t.Fatalf("alice sees %v", ids)
	}
	if ids := listIDs(t, h.do("GET", "/auth/sessions?tenant=globex", alice.AccessToken, nil)); len(ids) != 0 {
		t.Fatalf("alice sees another tenant: %v", ids)
	}
	if ids := listIDs(t, h.do("GET", "/auth/sessions", acmeAdmin.AccessToken, nil)); len(ids) != 4 || ids[carol.SessionID] {
		t.Fatalf("acme's tenant admin sees %v", ids)
	}
	if ids := listIDs(t, h.do("GET", "/auth/sessions?tenant=globex", admin.AccessToken, nil)); len(ids) != 1 || !ids[carol.SessionID] {
		t.Fatalf("admin filtered by tenant sees %v", ids)
	}
	if ids := listIDs(t, h.do("GET", "/auth/sessions?subject=alice&tenant=acme", admin.AccessToken, nil)); len(ids) != 2 {
		t.Fatalf("admin filtered by subject sees %v", ids)
	}

	del := func(caller pair, id string) int {
		return h.do("DELETE", "/auth/sessions/"+id, caller.AccessToken, nil).status
	}
	if s := del(bob, alice.SessionID); s != 404 {
		t.Fatalf("bob deleting alice's session: %d, want 404", s)
	}
	if s := del(carol, alice.SessionID); s != 404 {
		t.Fatalf("another tenant deleting: %d, want 404", s)
	}
	if s := del(acmeAdmin, carol.SessionID); s != 404 {
		t.Fatalf("tenant admin deleting another tenant's session: %d, want 404", s)
	}
	if s := del(alice, "no-such-session"); s != 404 {
		t.Fatalf("unknown session: %d", s)
	}
	if s := del(alice, alice2.SessionID); s != 204 {
		t.Fatalf("owner deleting: %d", s)
	}
	if s := del(acmeAdmin, bob.SessionID); s != 204 {
		t.Fatalf("tenant admin deleting in its tenant: %d", s)
	}
	if s := del(admin, carol.SessionID); s != 204 {
		t.Fatalf("admin deleting: %d", s)
	}
	for _, dead := range []pair{alice2, bob, carol} {
		wantProblem(t, h.do("GET", "/auth/me", dead.AccessToken, nil), 401)
	}
	if r := h.do("GET", "/auth/me", alice.AccessToken, nil); r.status != 200 {
		t.Fatal("deleting one session ended another")
	}
}

// security.md 12: revocation by session, subject, tenant and globally.
func TestMassRevocation(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	aliceAcme := h.issue(admin, "alice", "acme", nil, nil)
	aliceGlobex := h.issue(admin, "alice", "globex", nil, nil)
	bob := h.issue(admin, "bob", "acme", nil, nil)
	acmeAdmin := h.issue(admin, "root", "acme", []string{relayauth.RoleTenantAdmin}, nil)
	alive := func(p pair) bool { return h.do("GET", "/auth/me", p.AccessToken, nil).status == 200 }
	revoke := func(caller pair, body string) response {
		return h.do("POST", "/auth/sessions/revoke", caller.AccessToken, body)
	}

	h.clock.Advance(time.Second) // revocation ends what was created before now
	wantProblem(t, revoke(bob, `{"tenant":"acme"}`), 403)
	wantProblem(t, revoke(bob, `{"subject":"carol"}`), 403) // refused before its body is judged
	wantProblem(t, revoke(acmeAdmin, `{"tenant":"globex"}`), 404)
	wantProblem(t, revoke(acmeAdmin, `{"all":true}`), 403)
	wantProblem(t, revoke(admin, `{"subject":"alice"}`), 400)
	wantProblem(t, revoke(admin, `{}`), 400)

	r := revoke(acmeAdmin, `{"subject":"alice"}`)
	if r.status != 200 || r.json(t)["revoked"] != 1.0 {
		t.Fatalf("subject revocation: %d %s", r.status, r.body)
	}
	if alive(aliceAcme) || !alive(aliceGlobex) || !alive(bob) {
		t.Fatal("subject revocation must end alice@acme only")
	}
	h.clock.Advance(time.Second)
	again := h.issue(admin, "alice", "acme", nil, nil)
	if !alive(again) {
		t.Fatal("a session created after the revocation must work")
	}

	h.clock.Advance(time.Second)
	r = revoke(admin, `{"tenant":"acme"}`)
	if r.status != 200 || r.json(t)["revoked"] != 3.0 { // bob, root, the new alice
		t.Fatalf("tenant revocation: %d %s", r.status, r.body)
	}
	if alive(bob) || alive(acmeAdmin) || alive(again) || !alive(aliceGlobex) || !alive(admin) {
		t.Fatal("tenant revocation must end acme only")
	}

	r = revoke(admin, `{"all":true}`)
	if r.status != 200 || r.json(t)["revoked"] != 2.0 {
		t.Fatalf("global revocation: %d %s", r.status, r.body)
	}
	if alive(aliceGlobex) || alive(admin) {
		t.Fatal("global revocation left a session alive")
	}
	h.clock.Advance(time.Second)
	if !alive(h.loginAdmin()) {
		t.Fatal("login after a global revocation must work")
	}
}

// security.md 14: an unreachable store fails closed.
func TestStoreOutageFailsClosed(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Sessions = &toggleStore{Store: session.NewMemoryStore()} })
	p := h.loginAdmin()
	h.sessions.(*toggleStore).down.Store(true)
	r := h.do("GET", "/auth/me", p.AccessToken, nil)
	wantProblem(t, r, http.StatusServiceUnavailable)
	wantProblem(t, h.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable)
	h.sessions.(*toggleStore).down.Store(false)
	if r := h.do("GET", "/auth/me", p.AccessToken, nil); r.status != 200 {
		t.Fatalf("did not recover: %d", r.status)
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz did not recover: %d", r.status)
	}
}

// The clock guard's objection makes the instance not ready, and says why.
func TestReadyzAsksReady(t *testing.T) {
	var objection atomic.Pointer[error]
	h := newHarness(t, func(d *Deps) {
		d.Ready = func() error {
			if e := objection.Load(); e != nil {
				return *e
			}
			return nil
		}
	})
	if r := h.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz without objection: %d", r.status)
	}
	skew := errors.New("clock disagrees with Redis beyond CLOCK_SKEW_TOLERANCE: offset -2s, tolerance 500ms")
	objection.Store(&skew)
	r := h.do("GET", "/readyz", "", nil)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), "CLOCK_SKEW_TOLERANCE") {
		t.Errorf("readyz does not say why: %s", r.body)
	}
	// Liveness is not readiness: healthz still answers.
	if r := h.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
}

func TestJWKSAndHealth(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/.well-known/jwks.json", "", nil)
	if r.status != 200 || r.json(t)["keys"] == nil {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	if keys := r.json(t)["keys"].([]any); len(keys) != 0 {
		t.Fatalf("an HS256 deployment must publish no keys, got %s", r.body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := h.do("GET", path, "", nil); r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
	}
	wantProblem(t, h.do("GET", "/nope", "", nil), 404)
	r = h.do("GET", "/auth/login", "", nil)
	wantProblem(t, r, 405)
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

// security.md 20: nothing secret reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	h := newHarness(t)
	p := h.loginAdmin()
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`))
	h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`) // reuse
	h.do("POST", "/auth/login", "", `{"username":"admin","password":"guess-`+testAdminPassword+`"}`)
	h.do("GET", "/auth/me", np.AccessToken, nil)
	logs := h.logs.String()
	for _, secret := range []string{testAdminPassword, p.AccessToken, p.RefreshToken, np.AccessToken, np.RefreshToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret reached the log")
		}
	}
	if !strings.Contains(logs, `"action":"login","outcome":"failure"`) {
		t.Fatal("failed login was not audited")
	}
}

// security.md 13: session ids and refresh-token ids carry 128 random bits.
func TestIDEntropy(t *testing.T) {
	h := newHarness(t)
	seen := map[string]bool{}
	for range 50 {
		p := h.loginAdmin()
		c, err := h.verifier().VerifyRefresh(p.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{p.SessionID, c.ID} {
			raw, err := base64.RawURLEncoding.DecodeString(id)
			if err != nil || len(raw) < 16 {
				t.Fatalf("id %q carries %d bytes, want >= 16", id, len(raw))
			}
			if seen[id] {
				t.Fatalf("id %q repeated", id)
			}
			seen[id] = true
		}
	}
}

// security.md 17: throttling per account with 429 + Retry-After and a
// lockout that the right password does not bypass.
func TestLoginThrottling(t *testing.T) {
	h := newHarness(t)
	bad := `{"username":"admin","password":"guess"}`
	good := `{"username":"admin","password":"` + testAdminPassword + `"}`
	for i := 0; i < 5; i++ { // the free failures
		wantProblem(t, h.do("POST", "/auth/login", "", bad), 401)
	}
	wantProblem(t, h.do("POST", "/auth/login", "", bad), 401) // 6th: locks for 1s
	r := h.do("POST", "/auth/login", "", good)
	wantProblem(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	h.clock.Advance(time.Second)
	wantProblem(t, h.do("POST", "/auth/login", "", bad), 401) // 7th: locks for 2s
	h.clock.Advance(time.Second)
	r = h.do("POST", "/auth/login", "", good)
	wantProblem(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("back-off: Retry-After %q, want the remaining 1s", r.header.Get("Retry-After"))
	}
	h.clock.Advance(time.Second)
	h.decodePair(h.do("POST", "/auth/login", "", good))
	// An unknown account locks the same way: no enumeration by lockout.
	for i := 0; i < 6; i++ {
		h.do("POST", "/auth/login", "", `{"username":"ghost","password":"guess"}`, "X-Forwarded-For", "ignored")
	}
	wantProblem(t, h.do("POST", "/auth/login", "", `{"username":"ghost","password":"guess"}`), http.StatusTooManyRequests)
}

// security.md 20: every decision and change is an audit event with the
// request id; failed authorizations included.
func TestAuditTrail(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	h.do("POST", "/auth/login", "", `{"username":"admin","password":"nope"}`)
	user := h.issue(admin, "bob", "acme", nil, nil)
	h.do("POST", "/auth/tokens", user.AccessToken, `{"subject":"x","tenant":"acme"}`) // missing scope
	h.do("GET", "/auth/me", "garbage", nil)
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+user.RefreshToken+`"}`))
	h.do("POST", "/auth/logout", np.AccessToken, nil, "X-Request-ID", "trace-42")
	h.clock.Advance(time.Second)
	h.do("POST", "/auth/sessions/revoke", admin.AccessToken, `{"tenant":"acme"}`)

	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["kind"] == "audit" {
			events = append(events, m)
		}
	}
	has := func(action, outcome string, extra ...string) bool {
		for _, e := range events {
			if e["action"] != action || e["outcome"] != outcome || e["request_id"] == "" || e["client_ip"] == "" {
				continue
			}
			match := true
			for i := 0; i+1 < len(extra); i += 2 {
				match = match && e[extra[i]] == extra[i+1]
			}
			if match {
				return true
			}
		}
		return false
	}
	for _, want := range [][]string{
		{"login", "success"}, {"login", "failure"}, {"token.issue", "success", "subject", "bob"},
		{"authorize", "denied", "actor", "bob"}, {"authenticate", "failure"},
		{"token.refresh", "success", "actor", "bob"}, {"logout", "success", "request_id", "trace-42"},
		{"session.revoke_many", "success", "tenant", "acme", "target", "tenant"},
	} {
		if !has(want[0], want[1], want[2:]...) {
			t.Errorf("no audit event %v", want)
		}
	}
}

func TestAdminHealth(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	user := h.issue(admin, "bob", "acme", []string{relayauth.RoleTenantAdmin}, nil)
	wantProblem(t, h.do("GET", "/admin/health", user.AccessToken, nil), 403)
	wantProblem(t, h.do("GET", "/admin/health", "", nil), 401)
	r := h.do("GET", "/admin/health", admin.AccessToken, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.json(t)
	signing := m["signing"].(map[string]any)
	if signing["alg"] != "HS256" || signing["kid"] != h.keys.Active().ID() {
		t.Fatalf("signing %v", signing)
	}
	stores := m["stores"].([]any)
	if st := stores[0].(map[string]any); st["ok"] != true || st["backend"] != "memory" {
		t.Fatalf("stores %v", stores)
	}
	for _, secret := range []string{admin.AccessToken, testAdminPassword} {
		if strings.Contains(string(r.body), secret) {
			t.Fatal("health leaks a secret")
		}
	}
}

func TestAdminDebug(t *testing.T) {
	for _, env := range []string{"development", "production"} {
		t.Run(env, func(t *testing.T) {
			level := new(slog.LevelVar)
			h := newHarness(t, func(d *Deps) { d.Env, d.LogLevel = env, level })
			admin := h.loginAdmin()
			r := h.do("POST", "/admin/debug", admin.AccessToken, `{"enabled":true}`)
			if env == "production" {
				wantProblem(t, r, 403)
				if level.Level() != slog.LevelInfo {
					t.Fatal("production level changed")
				}
				return
			}
			if r.status != 200 || level.Level() != slog.LevelDebug {
				t.Fatalf("%d %s level %v", r.status, r.body, level.Level())
			}
			wantProblem(t, h.do("POST", "/admin/debug", admin.AccessToken, `{}`), 400)
			user := h.issue(admin, "bob", "acme", nil, nil)
			wantProblem(t, h.do("POST", "/admin/debug", user.AccessToken, `{"enabled":false}`), 403)
		})
	}
}

// Demo principals exist only when asked for and never in production.
func TestDemoLoginGuard(t *testing.T) {
	tests := []struct {
		env    string
		demo   bool
		status int
	}{
		{"development", true, 200},
		{"development", false, 404},
		{"staging", true, 200},
		{"production", true, 404},
	}
	for _, tt := range tests {
		h := newHarness(t, func(d *Deps) { d.Env, d.DemoMocks = tt.env, tt.demo })
		r := h.do("POST", "/demo/login", "", `{"subject":"ann","tenant":"acme","roles":["reader"]}`)
		if r.status != tt.status {
			t.Fatalf("%s demo=%v: %d %s", tt.env, tt.demo, r.status, r.body)
		}
		if r.status == 200 {
			wantProblem(t, h.do("POST", "/demo/login", "", `{"subject":"ann","tenant":"acme","roles":["admin"]}`), 403)
		}
	}
}

func TestAdminMigrations(t *testing.T) {
	for _, env := range []string{"development", "production"} {
		t.Run(env, func(t *testing.T) {
			runs := 0
			h := newHarness(t, func(d *Deps) {
				d.Env = env
				d.Migrations = migrate.Set{"noop": func(context.Context) (migrate.Result, error) {
					runs++
					return migrate.Result{Migrated: 3, Complete: true}, nil
				}}
			})
			admin := h.loginAdmin()
			user := h.issue(admin, "bob", "acme", []string{relayauth.RoleTenantAdmin}, nil)
			wantProblem(t, h.do("POST", "/admin/migrations/noop", user.AccessToken, `{}`), 403)
			wantProblem(t, h.do("POST", "/admin/migrations/drop-tables", admin.AccessToken, `{}`), 404)
			r := h.do("POST", "/admin/migrations/noop", admin.AccessToken, `{}`)
			if env == "production" {
				wantProblem(t, r, 400) // not confirmed
				if runs != 0 {
					t.Fatal("an unconfirmed production migration ran")
				}
				r = h.do("POST", "/admin/migrations/noop", admin.AccessToken, `{"confirm":"noop"}`)
			}
			if r.status != 200 || runs != 1 {
				t.Fatalf("%d %s (runs %d)", r.status, r.body, runs)
			}
			if m := r.json(t); m["name"] != "noop" || m["migrated"] != 3.0 || m["complete"] != true {
				t.Fatalf("result %s", r.body)
			}
			if !strings.Contains(h.logs.String(), `"action":"admin.migration","outcome":"success"`) {
				t.Fatal("migration not audited")
			}
		})
	}
}
