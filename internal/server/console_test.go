package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// withConsole turns the console on, in development unless an option
// after it says otherwise (the cookie is Secure everywhere else).
func withConsole(d *Deps) {
	d.Console = true
	if d.Env == "" {
		d.Env = "development"
	}
}

func withEnv(env string) harnessOpt { return func(d *Deps) { d.Env = env } }

// console is a signed-in console as a browser holds it: the cookie and
// the CSRF token.
type console struct {
	h               *harness
	cookie, csrf    string
	sessionID       string
	subject, tenant string
}

// signIn signs a console in with body and fails the test unless it works.
func (h *harness) signIn(body string) *console {
	h.t.Helper()
	r := h.do("POST", "/console/api/session", "", body)
	if r.status != http.StatusOK {
		h.t.Fatalf("console sign-in: %d %s", r.status, r.body)
	}
	var a struct {
		CSRF      string `json:"csrf_token"`
		SessionID string `json:"session_id"`
		Subject   string `json:"subject"`
		Tenant    string `json:"tenant"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil || a.CSRF == "" {
		h.t.Fatalf("sign-in answer %s: %v", r.body, err)
	}
	c := cookieOf(h.t, r, "relayauth-console")
	return &console{h: h, cookie: c.Value, csrf: a.CSRF, sessionID: a.SessionID, subject: a.Subject, tenant: a.Tenant}
}

func (h *harness) signInAdmin() *console {
	return h.signIn(`{"username":"admin","password":"` + testAdminPassword + `"}`)
}

func cookieOf(t testing.TB, r response, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, r.header["Set-Cookie"])
	return nil
}

// call sends a console API request as the console's own page would.
func (c *console) call(method, path string, body any, hdr ...string) response {
	c.h.t.Helper()
	return c.h.do(method, "/console/api"+path, "", body,
		append([]string{"Cookie", "relayauth-console=" + c.cookie, "X-CSRF-Token", c.csrf, "Sec-Fetch-Site", "same-origin"}, hdr...)...)
}

func TestConsoleOffByDefault(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/console", "/console/", "/console/console.js", "/console/api/session"} {
		if r := h.do("GET", p, "", nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s with the console off: %d, want 404", p, r.status)
		}
	}
}

func TestConsolePage(t *testing.T) {
	h := newHarness(t, withConsole)
	for _, tt := range []struct{ path, typ string }{
		{"/console/", "text/html"}, {"/console/console.js", "text/javascript"}, {"/console/console.css", "text/css"},
	} {
		r := h.do("GET", tt.path, "", nil)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), tt.typ) {
			t.Errorf("GET %s: %d %q", tt.path, r.status, r.header.Get("Content-Type"))
		}
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", tt.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", tt.path, csp)
		}
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: X-Frame-Options %q, Cache-Control %q", tt.path, r.header.Get("X-Frame-Options"), r.header.Get("Cache-Control"))
		}
	}
	if r := h.do("GET", "/console", "", nil); r.status != http.StatusPermanentRedirect || r.header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %q", r.status, r.header.Get("Location"))
	}
	if r := h.do("GET", "/console/secret.txt", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", r.status)
	}
	// No inline script or handler in the page, and the script never
	// writes HTML: whatever the API returns is text.
	page := string(h.do("GET", "/console/", "", nil).body)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("index.html has inline script")
	}
	// Should the script not run, the sign-in form still puts no
	// credential in a URL: it posts, and its credential fields have no name.
	if !strings.Contains(page, `<form id="signin-form" class="card narrow" method="post"`) ||
		regexp.MustCompile(`<input id="(username|password|apikey)"[^>]*\sname=`).MatchString(page) {
		t.Error("the sign-in form could send a credential in a URL")
	}
	js := string(h.do("GET", "/console/console.js", "", nil).body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage", "sessionStorage"} {
		if strings.Contains(js, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
}

func TestConsoleSignInCookie(t *testing.T) {
	for _, tt := range []struct {
		env, name string
		secure    bool
	}{
		{"development", "relayauth-console", false},
		{"staging", "__Host-relayauth-console", true},
		{"production", "__Host-relayauth-console", true},
	} {
		t.Run(tt.env, func(t *testing.T) {
			h := newHarness(t, withConsole, withEnv(tt.env))
			r := h.do("POST", "/console/api/session", "", `{"username":"admin","password":"`+testAdminPassword+`"}`)
			if r.status != http.StatusOK {
				t.Fatalf("sign-in: %d %s", r.status, r.body)
			}
			c := cookieOf(t, r, tt.name)
			if !c.HttpOnly || c.Secure != tt.secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %+v", c)
			}
			body := string(r.body)
			if strings.Contains(body, "access_token") || strings.Contains(body, "refresh_token") || strings.Contains(body, testAdminPassword) {
				t.Errorf("sign-in answer carries a credential: %s", body)
			}
			if strings.Contains(h.logs.String(), testAdminPassword) || strings.Contains(h.logs.String(), c.Value) {
				t.Error("the log holds the password or the console cookie")
			}
		})
	}
}

func TestConsoleSignInRefusals(t *testing.T) {
	h := newHarness(t, withConsole)
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
	}{
		{"wrong password", `{"username":"admin","password":"nope"}`, nil, 401},
		{"bad API key", `{"api_key":"rk_test_nope"}`, nil, 401},
		{"both", `{"username":"admin","password":"x","api_key":"y"}`, nil, 400},
		{"neither", `{}`, nil, 400},
		{"cross-site", `{"username":"admin","password":"` + testAdminPassword + `"}`, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"other origin", `{"username":"admin","password":"` + testAdminPassword + `"}`, []string{"Origin", "https://evil.example"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/console/api/session", "", tt.body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			if len(r.header["Set-Cookie"]) > 0 && strings.Contains(r.header.Get("Set-Cookie"), "Max-Age") == false {
				t.Errorf("a refused sign-in set a cookie: %v", r.header["Set-Cookie"])
			}
			if r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
}

// The console passes the login's throttling on as it is: a 429 with
// Retry-After, which the page turns into "retry in N s".
func TestConsoleSignInThrottled(t *testing.T) {
	h := newHarness(t, withConsole)
	var r response
	for range 7 { // 5 free failures, a 6th that starts a lockout, a 7th during it
		r = h.do("POST", "/console/api/session", "", `{"username":"admin","password":"wrong"}`)
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 7 failures: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if r := h.do("POST", "/console/api/session", "", `{"username":"admin","password":"`+testAdminPassword+`"}`); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password during a lockout: %d", r.status)
	}
}

// A request from another origin, or without the CSRF token, changes
// nothing: the cookie alone is not enough.
func TestConsoleCSRF(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	admin := h.loginAdmin()
	victim := h.issue(admin, "alice", "acme", nil, []string{"orders:read"})
	cookie := "relayauth-console=" + c.cookie
	tests := []struct {
		name string
		hdr  []string
	}{
		{"no token", []string{"Cookie", cookie}},
		{"wrong token", []string{"Cookie", cookie, "X-CSRF-Token", c.csrf + "x"}},
		{"another console's token", []string{"Cookie", cookie, "X-CSRF-Token", h.signInAdmin().csrf}},
		{"cross-site fetch", []string{"Cookie", cookie, "X-CSRF-Token", c.csrf, "Sec-Fetch-Site", "cross-site"}},
		{"same-site fetch", []string{"Cookie", cookie, "X-CSRF-Token", c.csrf, "Sec-Fetch-Site", "same-site"}},
		{"other origin", []string{"Cookie", cookie, "X-CSRF-Token", c.csrf, "Origin", "https://evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{"DELETE", "/console/api/auth/sessions/" + victim.SessionID, ""},
				{"POST", "/console/api/auth/sessions/revoke", `{"all":true}`},
				{"POST", "/console/api/auth/api-keys", `{"name":"x","tenant":"acme","scopes":["orders:read"]}`},
				{"DELETE", "/console/api/session", ""},
			} {
				var body any
				if req.body != "" {
					body = req.body
				}
				if r := h.do(req.method, req.path, "", body, tt.hdr...); r.status != http.StatusForbidden {
					t.Errorf("%s %s: %d %s, want 403", req.method, req.path, r.status, r.body)
				}
			}
		})
	}
	if r := h.do("GET", "/auth/me", victim.AccessToken, nil); r.status != http.StatusOK {
		t.Errorf("the victim's session was touched: %d", r.status)
	}
	if r := c.call("GET", "/auth/me", nil); r.status != http.StatusOK {
		t.Errorf("the console was signed out: %d", r.status)
	}
}

// The console cookie authenticates the console's own routes and nothing
// else: the bearer API never reads it.
func TestConsoleCookieIsNotACredential(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	for _, p := range []string{"/auth/me", "/auth/sessions", "/admin/health", "/auth/api-keys"} {
		if r := h.do("GET", p, "", nil, "Cookie", "relayauth-console="+c.cookie, "X-CSRF-Token", c.csrf); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s with the console cookie: %d, want 401", p, r.status)
		}
	}
	// Routes outside the console's list are not reachable through it.
	for _, p := range []struct{ method, path string }{
		{"POST", "/auth/login"}, {"POST", "/auth/tokens"}, {"POST", "/auth/refresh"}, {"POST", "/admin/debug"},
		{"POST", "/auth/introspect"}, {"GET", "/auth/forward"}, {"GET", "/metrics"},
	} {
		if r := c.call(p.method, p.path, `{}`); r.status != http.StatusNotFound {
			t.Errorf("%s /console/api%s: %d, want 404", p.method, p.path, r.status)
		}
	}
	// A credential the browser adds is dropped, not used.
	admin := h.loginAdmin()
	r := h.do("GET", "/console/api/auth/me", admin.AccessToken, nil, "Cookie", "relayauth-console=nope", "X-CSRF-Token", c.csrf)
	if r.status != http.StatusUnauthorized {
		t.Errorf("a bearer token on a console route: %d, want 401", r.status)
	}
}

func TestConsoleReadsAndActs(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	admin := h.loginAdmin()
	alice := h.issue(admin, "alice", "acme", nil, []string{"orders:read"})
	r := c.call("GET", "/auth/sessions?subject=alice&tenant=acme", nil)
	var list struct{ Sessions []sessionJSON }
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 || len(list.Sessions) != 1 || list.Sessions[0].ID != alice.SessionID {
		t.Fatalf("sessions of alice: %d %s", r.status, r.body)
	}
	if r := c.call("DELETE", "/auth/sessions/"+alice.SessionID, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/auth/me", alice.AccessToken, nil); r.status != http.StatusUnauthorized {
		t.Errorf("alice's token after revocation: %d", r.status)
	}
	for _, p := range []string{"/admin/health", "/admin/activity", "/admin/migrations", "/readyz"} {
		if r := c.call("GET", p, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	var act struct {
		Minutes []struct{ Logins, Failures, Revocations int }
	}
	_ = json.Unmarshal(c.call("GET", "/admin/activity", nil).body, &act)
	if n := len(act.Minutes); n != activityMinutes || act.Minutes[n-1].Logins != 2 || act.Minutes[n-1].Revocations != 1 {
		t.Errorf("activity: %+v", act.Minutes[len(act.Minutes)-1:])
	}
}

// Revoking the session the console signed in with signs the console out.
func TestConsoleOwnSessionRevoked(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	if r := c.call("DELETE", "/auth/sessions/"+c.sessionID, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke own session: %d %s", r.status, r.body)
	}
	r := c.call("GET", "/auth/me", nil)
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("after revoking its session: %d %v", r.status, r.header)
	}
	if got := cookieOf(t, r, "relayauth-console"); got.MaxAge >= 0 {
		t.Errorf("the cookie was not cleared: %+v", got)
	}
	if r := h.do("GET", "/console/api/session", "", nil, "Cookie", "relayauth-console="+c.cookie); r.status != http.StatusUnauthorized {
		t.Errorf("the console session outlived its session: %d", r.status)
	}
}

func TestConsoleSignOut(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	if r := c.call("DELETE", "/session", nil); r.status != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", r.status, r.body)
	}
	if _, err := h.sessions.Get(t.Context(), c.sessionID, h.clock.Now()); err == nil {
		t.Error("sign-out left the session alive on the server")
	}
	if r := c.call("GET", "/auth/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("after sign-out: %d", r.status)
	}
}

// The console renews its access token itself; the operator does not see
// the short access-token lifetime.
func TestConsoleRenews(t *testing.T) {
	h := newHarness(t, withConsole)
	c := h.signInAdmin()
	for range 3 {
		h.clock.Advance(4*time.Minute + 45*time.Second)
		if r := c.call("GET", "/auth/me", nil); r.status != http.StatusOK {
			t.Fatalf("after %v: %d %s", 4*time.Minute, r.status, r.body)
		}
	}
	h.clock.Advance(consoleIdle + time.Second)
	if r := c.call("GET", "/auth/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("an idle console: %d, want 401", r.status)
	}
	// Its credential is gone with it: so is the session behind it.
	if _, err := h.sessions.Get(t.Context(), c.sessionID, h.clock.Now()); err == nil {
		t.Error("an idle console left its session alive on the server")
	}
}

// A second sign-in in the same browser replaces the first console, and
// ends the session behind it: nothing holds its tokens any more.
func TestConsoleSecondSignInEndsTheFirst(t *testing.T) {
	h := newHarness(t, withConsole)
	first := h.signInAdmin()
	r := h.do("POST", "/console/api/session", "", `{"username":"admin","password":"`+testAdminPassword+`"}`,
		"Cookie", "relayauth-console="+first.cookie)
	var second struct {
		SessionID string `json:"session_id"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &second) != nil || second.SessionID == "" {
		t.Fatalf("second sign-in: %d %s", r.status, r.body)
	}
	if second.SessionID == first.sessionID {
		t.Fatal("the second sign-in reused the first session")
	}
	if _, err := h.sessions.Get(t.Context(), first.sessionID, h.clock.Now()); err == nil {
		t.Error("the replaced console left its session alive on the server")
	}
	if _, err := h.sessions.Get(t.Context(), second.SessionID, h.clock.Now()); err != nil {
		t.Errorf("the new console's session: %v", err)
	}
	if r := first.call("GET", "/auth/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("the replaced console still answers: %d", r.status)
	}
}

// A tenant admin's console sees and acts on its own tenant only, as the
// API enforces.
func TestConsoleTenantAdmin(t *testing.T) {
	h := newHarness(t, withConsole)
	admin := h.loginAdmin()
	k := h.createKey(admin.AccessToken, `{"name":"acme-ops","tenant":"acme","roles":["tenant_admin"],"scopes":["api_keys:read","api_keys:write"]}`)
	h.createKey(admin.AccessToken, `{"name":"globex-billing","tenant":"globex","scopes":["orders:read"]}`)
	bob := h.issue(admin, "bob", "globex", nil, []string{"orders:read"})
	h.issue(admin, "alice", "acme", nil, []string{"orders:read"})
	c := h.signIn(`{"api_key":"` + k.Key + `"}`)
	if c.tenant != "acme" {
		t.Fatalf("signed in as %+v", c)
	}
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		notIn        string
	}{
		{"GET", "/auth/sessions", nil, 200, "globex"},
		{"GET", "/auth/sessions?tenant=globex", nil, 200, "globex"},
		{"GET", "/auth/api-keys", nil, 200, "globex"},
		{"GET", "/auth/api-keys?tenant=globex", nil, 200, "globex"},
		{"DELETE", "/auth/sessions/" + bob.SessionID, nil, 404, ""},
		{"POST", "/auth/sessions/revoke", `{"tenant":"globex"}`, 404, ""},
		{"POST", "/auth/sessions/revoke", `{"all":true}`, 403, ""},
		{"GET", "/admin/health", nil, 403, ""},
	} {
		r := c.call(tt.method, tt.path, tt.body)
		if r.status != tt.status || (tt.notIn != "" && strings.Contains(string(r.body), tt.notIn)) {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
	if r := h.do("GET", "/auth/me", bob.AccessToken, nil); r.status != http.StatusOK {
		t.Errorf("bob's session was touched: %d", r.status)
	}
	// Revoking the key signs its console out.
	if r := h.do("DELETE", "/auth/api-keys/"+k.ID, admin.AccessToken, nil); r.status != http.StatusNoContent {
		t.Fatal(r.status)
	}
	if r := c.call("GET", "/auth/sessions", nil); r.status != http.StatusUnauthorized {
		t.Errorf("a revoked key's console: %d", r.status)
	}
}

func TestActivityRing(t *testing.T) {
	var a activity
	t0 := time.Date(2026, 12, 6, 12, 0, 30, 0, time.UTC)
	a.add(t0, activityLogin, 1)
	a.add(t0, activityFailure, 2)
	a.add(t0.Add(59*time.Minute), activityRevocation, 5)
	got := a.lastHour(t0.Add(59 * time.Minute))
	if len(got) != activityMinutes || got[0].Logins != 1 || got[0].Failures != 2 || got[59].Revocations != 5 {
		t.Fatalf("hour: first %+v last %+v", got[0], got[59])
	}
	// An hour on, the first minute's bucket is reused, not added to.
	a.add(t0.Add(time.Hour), activityLogin, 1)
	got = a.lastHour(t0.Add(time.Hour))
	if got[59].Logins != 1 || got[59].Failures != 0 || got[58].Revocations != 5 {
		t.Errorf("after an hour: %+v %+v", got[58], got[59])
	}
	if got := a.lastHour(t0.Add(3 * time.Hour)); got[59] != (activityBucket{Minute: got[59].Minute}) {
		t.Errorf("stale buckets shown: %+v", got[59])
	}
}
