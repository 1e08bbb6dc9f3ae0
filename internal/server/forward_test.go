package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relayauth/relayauth/session"
)

// wantIdentity checks a 200 forward-auth answer: no body, every identity
// header exactly once, with the values in want (name → value), and
// nothing else but Cache-Control: a ninth header would double net/http's
// cost of writing them (see identityHeaders).
func wantIdentity(t *testing.T, r response, want map[string]string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if len(r.body) != 0 {
		t.Errorf("body %q, want none", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	for _, name := range identityHeaders {
		if n := len(r.header.Values(name)); n != 1 {
			t.Errorf("%s sent %d times, want once", name, n)
		}
	}
	if n := len(r.header); n != len(identityHeaders)+1 {
		t.Errorf("%d headers, want Cache-Control and the %d identity headers only: %v", n, len(identityHeaders), r.header)
	}
	for name, v := range want {
		if got := r.header.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

func TestForwardAuthAnswers(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	bob := h.issue(admin, "bob", "acme", []string{"tenant_admin"}, []string{"orders:read", "orders:write"})
	eve := h.issue(admin, "eve", "globex", nil, []string{"orders:read"})

	for _, tc := range []struct {
		name   string
		method string
		path   string
		bearer string
		hdr    []string
		status int
		want   map[string]string // identity headers of a 200
		chall  string            // WWW-Authenticate of a refusal
	}{
		{name: "no credential", path: "/auth/forward", status: 401, chall: `Bearer realm="relayauth"`},
		{name: "garbage token", path: "/auth/forward", bearer: "garbage", status: 401, chall: `Bearer realm="relayauth", error="invalid_token"`},
		{name: "identity", path: "/auth/forward", bearer: bob.AccessToken, status: 200, want: map[string]string{
			hdrSubject: "bob", hdrTenant: "acme", hdrRoles: "tenant_admin", hdrScopes: "orders:read orders:write",
			hdrSessionID: bob.SessionID, hdrMethod: "jwt", hdrMaxAge: "5"}},
		{name: "HEAD", method: "HEAD", path: "/auth/forward", bearer: bob.AccessToken, status: 200},
		{name: "Envoy's original method", method: "DELETE", path: "/auth/forward/orders/7", bearer: bob.AccessToken, status: 200},
		{name: "forged identity headers are not read", path: "/auth/forward", bearer: eve.AccessToken,
			hdr: []string{"X-Relay-Subject", "bob", "X-Relay-Tenant", "acme", "X-Relay-Roles", "admin"}, status: 200,
			want: map[string]string{hdrSubject: "eve", hdrTenant: "globex", hdrRoles: ""}},
		{name: "all scopes held", path: "/auth/forward?scopes=orders:read,orders:write", bearer: bob.AccessToken, status: 200},
		{name: "a scope missing", path: "/auth/forward?scopes=orders:read,orders:write", bearer: eve.AccessToken, status: 403,
			chall: `Bearer realm="relayauth", error="insufficient_scope"`},
		{name: "admin holds every scope", path: "/auth/forward?scopes=billing:anything", bearer: admin.AccessToken, status: 200},
		{name: "one of the roles", path: "/auth/forward?roles=admin,tenant_admin", bearer: bob.AccessToken, status: 200},
		{name: "none of the roles", path: "/auth/forward?roles=admin,tenant_admin", bearer: eve.AccessToken, status: 403},
		{name: "own tenant", path: "/auth/forward?tenant=acme", bearer: bob.AccessToken, status: 200},
		{name: "other tenant", path: "/auth/forward?tenant=acme", bearer: eve.AccessToken, status: 404},
		{name: "admin in any tenant", path: "/auth/forward?tenant=acme", bearer: admin.AccessToken, status: 200},
		{name: "tenant path, own", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/acme/orders?page=2"}, status: 200},
		{name: "tenant path, other", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/acme/orders"}, status: 404},
		{name: "tenant path before scopes: 404, not 403", path: "/auth/forward?tenant_path=/tenants/{tenant}&scopes=orders:write", bearer: eve.AccessToken,
			hdr: []string{"X-Forwarded-Uri", "/tenants/acme/orders"}, status: 404},
		{name: "tenant path, escaped segment decoded", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/%61cme/orders"}, status: 404},
		{name: "tenant path, admin", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: admin.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/acme"}, status: 200},
		{name: "tenant path, path outside the template", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/users/acme"}, status: 404},
		{name: "tenant path, path too short", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants"}, status: 404},
		{name: "tenant path, empty tenant", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/"}, status: 404},
		{name: "tenant path, no original request", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: bob.AccessToken, status: 400},
		{name: "tenant path, dot segment", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/globex/../acme/orders"}, status: 400},
		{name: "tenant path, encoded dot segment", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/globex/%2e%2E/acme"}, status: 400},
		{name: "tenant path, encoded slash", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/acme%2Fx"}, status: 400},
		{name: "tenant path, backslash", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", `/tenants/globex\..\acme`}, status: 400},
		{name: "tenant path, empty segment", path: "/auth/forward?tenant_path=/tenants/{tenant}", bearer: eve.AccessToken,
			hdr: []string{"X-Original-URI", "//tenants/acme"}, status: 400},
		{name: "two original requests that disagree", path: "/auth/forward", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/acme", "X-Forwarded-Uri", "/tenants/globex"}, status: 400},
		{name: "two original requests that agree", path: "/auth/forward", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/a", "X-Forwarded-Uri", "/a"}, status: 200},
		{name: "suffix and header disagree", path: "/auth/forward/tenants/acme", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/tenants/globex"}, status: 400},
		{name: "credential in the original query", path: "/auth/forward", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/orders?Access_Token=x"}, status: 400, chall: `Bearer realm="relayauth", error="invalid_request"`},
		{name: "credential in Envoy's original query", path: "/auth/forward/orders?api_key=x", bearer: bob.AccessToken, status: 400},
		{name: "Envoy's query is the original's, not requirements", path: "/auth/forward/orders?scopes=nothing-held", bearer: eve.AccessToken, status: 200},
		{name: "requirements in X-Relay-Require", path: "/auth/forward", bearer: eve.AccessToken,
			hdr: []string{"X-Relay-Require", "scopes=orders:write"}, status: 403, chall: `Bearer realm="relayauth", error="insufficient_scope"`},
		{name: "Envoy's requirements in X-Relay-Require", path: "/auth/forward/tenants/acme/orders?scopes=x", bearer: eve.AccessToken,
			hdr: []string{"X-Relay-Require", "tenant_path=/tenants/{tenant}"}, status: 404},
		{name: "Envoy's requirements held", path: "/auth/forward/tenants/acme/orders", bearer: bob.AccessToken,
			hdr: []string{"X-Relay-Require", "tenant_path=/tenants/{tenant}&scopes=orders:read"}, status: 200},
		{name: "empty X-Relay-Require", path: "/auth/forward", bearer: eve.AccessToken, hdr: []string{"X-Relay-Require", ""}, status: 200},
		{name: "requirements in the query and X-Relay-Require", path: "/auth/forward?scopes=orders:read", bearer: bob.AccessToken,
			hdr: []string{"X-Relay-Require", "scopes=orders:read"}, status: 400},
		{name: "unknown requirement in X-Relay-Require", path: "/auth/forward", bearer: bob.AccessToken,
			hdr: []string{"X-Relay-Require", "scope=orders:read"}, status: 400},
		{name: "original request not an absolute path", path: "/auth/forward", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "http://evil/"}, status: 400},
		{name: "unknown requirement", path: "/auth/forward?scope=orders:read", bearer: bob.AccessToken, status: 400},
		{name: "requirement twice", path: "/auth/forward?scopes=a&scopes=b", bearer: bob.AccessToken, status: 400},
		{name: "empty requirement", path: "/auth/forward?roles=", bearer: bob.AccessToken, status: 400},
		{name: "empty name in a list", path: "/auth/forward?scopes=orders:read,", bearer: bob.AccessToken, status: 400},
		{name: "tenant and tenant_path", path: "/auth/forward?tenant=acme&tenant_path=/tenants/{tenant}", bearer: bob.AccessToken, status: 400},
		{name: "template without {tenant}", path: "/auth/forward?tenant_path=/tenants", bearer: bob.AccessToken, status: 400},
		{name: "template with two {tenant}", path: "/auth/forward?tenant_path=/{tenant}/{tenant}", bearer: bob.AccessToken,
			hdr: []string{"X-Original-URI", "/acme/acme"}, status: 400},
		{name: "malformed query", path: "/auth/forward?scopes=%zz", bearer: bob.AccessToken, status: 400},
		{name: "token in the auth URL's query", path: "/auth/forward?access_token=x", status: 400},
		{name: "both credentials", path: "/auth/forward", bearer: bob.AccessToken, hdr: []string{"X-API-Key", "rk_test_x"}, status: 400,
			chall: `Bearer realm="relayauth", error="invalid_request"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			r := h.do(method, tc.path, tc.bearer, nil, tc.hdr...)
			if tc.status == 200 {
				wantIdentity(t, r, tc.want)
				return
			}
			if method != "HEAD" {
				wantProblem(t, r, tc.status)
			}
			if tc.chall != "" && r.header.Get("WWW-Authenticate") != tc.chall {
				t.Errorf("WWW-Authenticate %q, want %q", r.header.Get("WWW-Authenticate"), tc.chall)
			}
			for _, name := range identityHeaders {
				if r.header.Get(name) != "" {
					t.Errorf("a refusal carries %s", name)
				}
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("a refusal without X-Request-Id")
			}
		})
	}
}

// Two X-Relay-Require headers are a 400: one of them may be a client's.
func TestForwardAuthRequireTwice(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	req := httptest.NewRequest("GET", "/auth/forward", nil)
	req.Header.Set("Authorization", "Bearer "+admin.AccessToken)
	req.Header.Add(hdrRequire, "scopes=orders:read")
	req.Header.Add(hdrRequire, "roles=admin")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	wantProblem(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, http.StatusBadRequest)
}

func TestForwardAuthAPIKey(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	k := h.createKey(admin.AccessToken, `{"name":"billing","tenant":"acme","scopes":["orders:read"],"expires_in":3600}`)
	wantIdentity(t, h.withKey("GET", "/auth/forward?scopes=orders:read", k.Key, nil), map[string]string{
		hdrSubject: k.ID, hdrTenant: "acme", hdrRoles: "", hdrScopes: "orders:read", hdrSessionID: "",
		hdrMethod: "api_key", hdrMaxAge: "5"})
	wantProblem(t, h.withKey("GET", "/auth/forward?tenant=globex", k.Key, nil), http.StatusNotFound)

	// Revocation is effective on the next request.
	if r := h.do("DELETE", "/auth/api-keys/"+k.ID, admin.AccessToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantProblem(t, h.withKey("GET", "/auth/forward", k.Key, nil), http.StatusUnauthorized)
}

func TestForwardAuthRevocationAndExpiry(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.RevocationSLA = 2 * time.Minute })
	admin := h.loginAdmin()
	bob := h.issue(admin, "bob", "acme", nil, nil)
	wantIdentity(t, h.do("GET", "/auth/forward", bob.AccessToken, nil), map[string]string{hdrMaxAge: "120"})
	// Near expiry, the answer may be reused only until the token expires.
	h.clock.Advance(4*time.Minute + 30*time.Second)
	wantIdentity(t, h.do("GET", "/auth/forward", bob.AccessToken, nil), map[string]string{hdrMaxAge: "30"})

	if r := h.do("POST", "/auth/logout", bob.AccessToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantProblem(t, h.do("GET", "/auth/forward", bob.AccessToken, nil), http.StatusUnauthorized)

	other := h.issue(admin, "carol", "acme", nil, nil)
	h.clock.Advance(6 * time.Minute)
	wantProblem(t, h.do("GET", "/auth/forward", other.AccessToken, nil), http.StatusUnauthorized)
}

func TestForwardAuthFailsClosed(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Sessions = &toggleStore{Store: session.NewMemoryStore()} })
	p := h.loginAdmin()
	h.sessions.(*toggleStore).down.Store(true)
	r := h.do("GET", "/auth/forward", p.AccessToken, nil)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

// Forward-auth decisions are audited like every other: a refusal by a
// requirement names the actor.
func TestForwardAuthAudit(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	eve := h.issue(admin, "eve", "globex", nil, nil)
	h.do("GET", "/auth/forward?scopes=orders:write", eve.AccessToken, nil)
	h.do("GET", "/auth/forward", "garbage", nil)
	var denied, failed bool
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["kind"] != "audit" {
			continue
		}
		denied = denied || (m["action"] == "authorize" && m["outcome"] == "denied" && m["actor"] == "eve")
		failed = failed || (m["action"] == "authenticate" && m["outcome"] == "failure")
	}
	if !denied || !failed {
		t.Errorf("audit: denied %v, authentication failure %v; want both", denied, failed)
	}
}

func FuzzForwardRule(f *testing.F) {
	for _, s := range []string{"", "roles=a,b", "scopes=a&tenant=b", "tenant_path=/t/{tenant}/x", "tenant_path=/{tenant}", "x=%zz", "roles=,"} {
		f.Add(s, "/t/acme/x?y=1")
	}
	f.Fuzz(func(t *testing.T, query, uri string) {
		rule, err := parseForwardRule(query)
		if err != nil {
			return
		}
		for _, n := range append(rule.roles, rule.scopes...) {
			if !namePattern.MatchString(n) {
				t.Fatalf("%q: accepted name %q", query, n)
			}
		}
		if rule.tenantPath != nil {
			if rule.tenantAt < 0 || rule.tenantAt >= len(rule.tenantPath) || rule.tenantPath[rule.tenantAt] != tenantPlaceholder {
				t.Fatalf("%q: template %q, tenant at %d", query, rule.tenantPath, rule.tenantAt)
			}
			if !strings.HasPrefix(uri, "/") {
				return
			}
			tenant, err := rule.tenantOf(uri)
			if err == nil && strings.ContainsAny(tenant, "/\\") {
				t.Fatalf("%q, %q: tenant %q holds a separator", query, uri, tenant)
			}
		}
	})
}

// The rule cache parses a requirement string once, keeps no refusal, and
// stops growing at maxCachedRules while still answering.
func TestForwardRuleCache(t *testing.T) {
	var c ruleCache
	a, err := c.parse("scopes=orders:read")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.parse("scopes=orders:read"); b != a {
		t.Error("the same requirements were parsed twice")
	}
	if _, err := c.parse("scopes=orders:read&scopes=x"); err == nil {
		t.Error("a repeated requirement was accepted")
	}
	if _, err := c.parse("scopes=orders:read&scopes=x"); err == nil {
		t.Error("a repeated requirement was accepted the second time")
	}
	for i := range maxCachedRules + 10 {
		rule, err := c.parse(fmt.Sprintf("roles=r%d", i))
		if err != nil || len(rule.roles) != 1 || rule.roles[0] != fmt.Sprintf("r%d", i) {
			t.Fatalf("roles=r%d: %+v, %v", i, rule, err)
		}
	}
	if n := c.n.Load(); n != maxCachedRules {
		t.Errorf("%d rules kept, want %d", n, maxCachedRules)
	}
}
