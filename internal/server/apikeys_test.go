package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
)

type createdKey struct {
	ID        string `json:"id"`
	Key       string `json:"key"`
	MaskedKey string `json:"masked_key"`
	Tenant    string `json:"tenant"`
}

func (h *harness) createKey(bearer, body string) createdKey {
	h.t.Helper()
	r := h.do("POST", "/auth/api-keys", bearer, body)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create key: %d %s", r.status, r.body)
	}
	var k createdKey
	if err := json.Unmarshal(r.body, &k); err != nil {
		h.t.Fatal(err)
	}
	if !strings.HasPrefix(k.Key, "rk_test_") || k.ID == "" {
		h.t.Fatalf("created key %s", r.body)
	}
	return k
}

// withKey sends a request authenticated by an API key.
func (h *harness) withKey(method, path, key string, body any) response {
	h.t.Helper()
	return h.do(method, path, "", body, "X-API-Key", key)
}

func TestAPIKeyLifecycle(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	k := h.createKey(admin.AccessToken, `{"name":"billing","tenant":"acme","scopes":["orders:read","tokens:issue"],"expires_in":3600}`)

	// The raw key is shown once; every read is masked.
	if k.MaskedKey != "rk_test_…"+k.Key[len(k.Key)-4:] {
		t.Fatalf("masked %q", k.MaskedKey)
	}
	for _, path := range []string{"/auth/api-keys", "/auth/api-keys/" + k.ID} {
		r := h.do("GET", path, admin.AccessToken, nil)
		if r.status != 200 || strings.Contains(string(r.body), k.Key) || strings.Contains(string(r.body), k.Key[8:len(k.Key)-4]) {
			t.Fatalf("%s: %d, leaks the key or its middle: %s", path, r.status, r.body)
		}
		if !strings.Contains(string(r.body), k.MaskedKey) {
			t.Fatalf("%s does not show the masked key: %s", path, r.body)
		}
	}

	// The key authenticates as X-API-Key.
	me := h.withKey("GET", "/auth/me", k.Key, nil)
	if me.status != 200 {
		t.Fatalf("me with key: %d %s", me.status, me.body)
	}
	if m := me.json(t); m["method"] != "api_key" || m["tenant"] != "acme" || m["subject"] != k.ID {
		t.Fatalf("me: %s", me.body)
	}
	// A service trades its key for tokens (scope tokens:issue).
	pair := h.decodePair(h.withKey("POST", "/auth/tokens", k.Key, `{"subject":"svc-billing","tenant":"acme","scopes":["orders:read"]}`))
	if r := h.do("GET", "/auth/me", pair.AccessToken, nil); r.status != 200 {
		t.Fatalf("service token: %d", r.status)
	}

	// Expiry, with the injected clock.
	h.clock.Advance(time.Hour)
	wantProblem(t, h.withKey("GET", "/auth/me", k.Key, nil), 401)
}

func TestAPIKeyRotationGrace(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	k := h.createKey(admin.AccessToken, `{"name":"svc","tenant":"acme","scopes":["orders:read"]}`)

	r := h.do("POST", "/auth/api-keys/"+k.ID+"/rotate", admin.AccessToken, `{"grace_seconds":60}`)
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	var rotated createdKey
	_ = json.Unmarshal(r.body, &rotated)
	if rotated.Key == "" || rotated.Key == k.Key || rotated.ID != k.ID {
		t.Fatalf("rotate answered %s", r.body)
	}
	for _, key := range []string{k.Key, rotated.Key} {
		if s := h.withKey("GET", "/auth/me", key, nil).status; s != 200 {
			t.Fatalf("within the grace period: %d", s)
		}
	}
	h.clock.Advance(61 * time.Second)
	wantProblem(t, h.withKey("GET", "/auth/me", k.Key, nil), 401)
	if s := h.withKey("GET", "/auth/me", rotated.Key, nil).status; s != 200 {
		t.Fatalf("new key after the grace period: %d", s)
	}

	// Grace 0 kills the old key at once; no body means grace 0.
	r = h.do("POST", "/auth/api-keys/"+k.ID+"/rotate", admin.AccessToken, nil)
	if r.status != 200 {
		t.Fatalf("rotate without body: %d %s", r.status, r.body)
	}
	wantProblem(t, h.withKey("GET", "/auth/me", rotated.Key, nil), 401)

	// Revoke: fails from the next request on, and cannot be rotated back.
	var third createdKey
	_ = json.Unmarshal(r.body, &third)
	if s := h.do("DELETE", "/auth/api-keys/"+k.ID, admin.AccessToken, nil).status; s != 204 {
		t.Fatalf("revoke: %d", s)
	}
	wantProblem(t, h.withKey("GET", "/auth/me", third.Key, nil), 401)
	wantProblem(t, h.do("POST", "/auth/api-keys/"+k.ID+"/rotate", admin.AccessToken, nil), 409)
}

// security.md 19: a tenant admin or a tenant key manages only its tenant;
// another tenant's key is a 404.
func TestAPIKeyTenantIsolation(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	globexKey := h.createKey(admin.AccessToken, `{"name":"g","tenant":"globex","scopes":["orders:read"]}`)
	acmeAdmin := h.issue(admin, "root", "acme", []string{relayauth.RoleTenantAdmin},
		[]string{relayauth.ScopeAPIKeysRead, relayauth.ScopeAPIKeysWrite})
	acmeKey := h.createKey(acmeAdmin.AccessToken, `{"name":"manager","scopes":["api_keys:read","api_keys:write"]}`)
	if acmeKey.Tenant != "acme" {
		t.Fatalf("a tenant admin's key lands in %q", acmeKey.Tenant)
	}

	for _, caller := range []struct {
		name string
		send func(method, path string, body any) response
	}{
		{"tenant admin", func(m, p string, b any) response { return h.do(m, p, acmeAdmin.AccessToken, b) }},
		{"tenant key", func(m, p string, b any) response { return h.withKey(m, p, acmeKey.Key, b) }},
	} {
		t.Run(caller.name, func(t *testing.T) {
			wantProblem(t, caller.send("GET", "/auth/api-keys/"+globexKey.ID, nil), 404)
			wantProblem(t, caller.send("POST", "/auth/api-keys/"+globexKey.ID+"/rotate", nil), 404)
			wantProblem(t, caller.send("DELETE", "/auth/api-keys/"+globexKey.ID, nil), 404)
			wantProblem(t, caller.send("POST", "/auth/api-keys", `{"name":"x","tenant":"globex","scopes":[]}`), 403)
			r := caller.send("GET", "/auth/api-keys?tenant=globex", nil)
			if r.status != 200 || strings.Contains(string(r.body), globexKey.ID) {
				t.Fatalf("list of another tenant: %d %s", r.status, r.body)
			}
			if r := caller.send("GET", "/auth/api-keys", nil); !strings.Contains(string(r.body), acmeKey.ID) || strings.Contains(string(r.body), globexKey.ID) {
				t.Fatalf("own list: %s", r.body)
			}
		})
	}
	if s := h.withKey("GET", "/auth/me", globexKey.Key, nil).status; s != 200 {
		t.Fatal("globex's key was touched")
	}
	// No privilege escalation through a key.
	wantProblem(t, h.withKey("POST", "/auth/api-keys", acmeKey.Key, `{"name":"esc","scopes":["tokens:issue"]}`), 403)
	wantProblem(t, h.withKey("POST", "/auth/api-keys", acmeKey.Key, `{"name":"esc","roles":["admin"],"scopes":[]}`), 403)
	// Nor into the tenant's own services: a resource:action scope or a role
	// the caller does not hold.
	wantProblem(t, h.withKey("POST", "/auth/api-keys", acmeKey.Key, `{"name":"esc","scopes":["orders:write"]}`), 403)
	wantProblem(t, h.do("POST", "/auth/api-keys", acmeAdmin.AccessToken, `{"name":"esc","scopes":["orders:write"]}`), 403)
	wantProblem(t, h.do("POST", "/auth/api-keys", acmeAdmin.AccessToken, `{"name":"esc","roles":["writer"],"scopes":[]}`), 403)
}

func TestAPIKeyBadInput(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	h.createKey(admin.AccessToken, `{"name":"taken","tenant":"acme","scopes":[]}`)
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"malformed json", `{"name":`, 400},
		{"unknown field", `{"name":"a","tenant":"acme","admin":true}`, 400},
		{"huge name", `{"name":"` + strings.Repeat("n", 200) + `","tenant":"acme"}`, 400},
		{"empty name", `{"name":"","tenant":"acme"}`, 400},
		{"unknown scope", `{"name":"a","tenant":"acme","scopes":["everything"]}`, 400},
		{"negative expiry", `{"name":"a","tenant":"acme","expires_in":-5}`, 400},
		{"absurd expiry", `{"name":"a","tenant":"acme","expires_in":999999999999}`, 400},
		{"duplicate name", `{"name":"taken","tenant":"acme"}`, 409},
		{"bad tenant", `{"name":"a","tenant":"a b"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do("POST", "/auth/api-keys", admin.AccessToken, tt.body), tt.status)
		})
	}
	r := h.do("GET", "/auth/api-keys", admin.AccessToken, nil)
	var list struct {
		Keys []map[string]any `json:"api_keys"`
	}
	_ = json.Unmarshal(r.body, &list)
	if len(list.Keys) != 1 {
		t.Fatalf("bad requests stored keys: %s", r.body)
	}
	wantProblem(t, h.do("POST", "/auth/api-keys/key_doesnotexist00000/rotate", admin.AccessToken, `{"grace_seconds":-1}`), 400)
}

func TestAPIKeyCredentialsRules(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	k := h.createKey(admin.AccessToken, `{"name":"svc","tenant":"acme","scopes":[]}`)
	tampered := k.Key[:len(k.Key)-1] + string("ab"[(strings.IndexByte("ab", k.Key[len(k.Key)-1])+1)&1]) // any other last character
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
	}{
		{"key in query", "/auth/me?api_key=" + k.Key, nil, 400},
		{"key in query, other case", "/auth/me?X-API-KEY=" + k.Key, nil, 400},
		{"both credentials", "/auth/me", []string{"X-API-Key", k.Key, "Authorization", "Bearer " + admin.AccessToken}, 400}, // RFC 6750 §3.1 invalid_request
		{"bad checksum", "/auth/me", []string{"X-API-Key", tampered}, 401},
		{"other environment", "/auth/me", []string{"X-API-Key", "rk_live_" + k.Key[8:]}, 401},
		{"garbage", "/auth/me", []string{"X-API-Key", "hello"}, 401},
		{"huge", "/auth/me", []string{"X-API-Key", strings.Repeat("k", 10000)}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do("GET", tt.path, "", nil, tt.hdr...), tt.status)
		})
	}
	if strings.Contains(h.logs.String(), k.Key) {
		t.Fatal("the raw key reached the log")
	}
}
