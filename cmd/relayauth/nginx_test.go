package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relayauth/relayauth/internal/testredis"
)

// The nginx configuration that deploy/ ships, driven end to end: the real
// server, the real nginx, a service behind it.

// envNginx names the variable with the nginx binary to test with
// (scripts/test.sh sets it).
const envNginx = "RELAY_TEST_NGINX"

// nginxConf is the template under test: the file operators deploy.
const nginxConf = "../../deploy/nginx/relayauth.conf"

// relayHeaders are the identity headers of the contract, in its order.
var relayHeaders = []string{
	"X-Relay-Subject", "X-Relay-Tenant", "X-Relay-Roles", "X-Relay-Scopes",
	"X-Relay-Session-Id", "X-Relay-Auth-Method", "X-Relay-Cache-Max-Age",
}

// nginxBinary returns the nginx to drive: RELAY_TEST_NGINX, else nginx on
// PATH or in /usr/sbin. Without one the test skips on a developer's
// machine and fails under CI=true.
func nginxBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(envNginx)
	if bin == "" {
		if p, err := exec.LookPath("nginx"); err == nil {
			bin = p
		} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			bin = "/usr/sbin/nginx"
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and nginx is required: %s is not set and no nginx on PATH or in /usr/sbin", envNginx)
		}
		t.Skipf("skipping: no nginx (set %s, or run scripts/test.sh, which installs it)", envNginx)
	}
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -V: %v\n%s", bin, err, out)
	}
	if !bytes.Contains(out, []byte("http_auth_request_module")) {
		t.Fatalf("%s is built without ngx_http_auth_request_module:\n%s", bin, out)
	}
	return bin
}

// upstream is the protected service: it answers what it was sent, and
// counts its calls.
type upstream struct {
	srv   *httptest.Server
	calls atomic.Int64
}

// upstreamSaw is the upstream's answer: what reached it.
type upstreamSaw struct {
	Path  string              `json:"path"`
	Relay map[string][]string `json:"relay"` // every X-Relay-* header, by canonical name
	IDs   []string            `json:"ids"`   // X-Request-Id
	Body  string              `json:"body"`
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		saw := upstreamSaw{Path: r.URL.RequestURI(), Relay: map[string][]string{}, IDs: r.Header["X-Request-Id"], Body: string(body)}
		for name, values := range r.Header {
			if strings.HasPrefix(name, "X-Relay-") {
				saw.Relay[name] = values
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(saw)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// renderNginxConf fills the template's placeholders, every one of which
// must be there, and nothing else.
func renderNginxConf(t *testing.T, values map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for token, v := range values {
		if !strings.Contains(conf, token) {
			t.Fatalf("%s has no %s placeholder", nginxConf, token)
		}
		conf = strings.ReplaceAll(conf, token, v)
	}
	if left := regexp.MustCompile(`__[A-Z]+__`).FindAllString(conf, -1); left != nil {
		t.Fatalf("%s has placeholders the test does not fill: %q", nginxConf, left)
	}
	return conf
}

// startNginx runs nginx in the foreground on a free loopback port with the
// rendered template, its files in a directory of its own, and returns its
// base URL. It is stopped when the test ends; its error log is shown if
// the test failed.
func startNginx(t *testing.T, relayBase, upstreamBase string) string {
	t.Helper()
	bin := nginxBinary(t)
	// Not t.TempDir: its parents are 0700, and nginx started as root runs
	// its workers as www-data, which must reach the buffer directories.
	dir, err := os.MkdirTemp("", "relayauth-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := renderNginxConf(t, map[string]string{
		"__LISTEN__":    listen,
		"__RELAYAUTH__": strings.TrimPrefix(relayBase, "http://"),
		"__UPSTREAM__":  strings.TrimPrefix(upstreamBase, "http://"),
		"__STATE__":     dir,
	})
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	args := []string{"-p", dir + "/", "-e", errorLog, "-c", confPath,
		"-g", "daemon off; master_process on; pid " + filepath.Join(dir, "nginx.pid") + "; error_log " + errorLog + " info;"}
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM: a fast shutdown of the master and its workers.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("nginx did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(errorLog)
			t.Logf("nginx error log:\n%s", log)
		}
	})
	base := "http://" + listen
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errorLog)
			t.Fatalf("nginx exited: %v\n%s\n%s", err, output.String(), log)
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx on %s did not answer /healthz within 10s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// through sends one request through nginx and returns its answer and, if
// the upstream answered, what reached the upstream.
func through(t *testing.T, base, method, path string, header http.Header, body string) (*http.Response, upstreamSaw) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s through nginx: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var saw upstreamSaw
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &saw); err != nil {
			t.Fatalf("%s %s: 200 without the upstream's answer: %q", method, path, raw)
		}
		return resp, saw
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s %s: %d is %q, not problem+json: %q", method, path, resp.StatusCode, ct, raw)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: %d has Cache-Control %q, want no-store", method, path, resp.StatusCode, cc)
	}
	return resp, saw
}

// createKey makes an API key over the API with an admin token and returns
// the raw key and its id.
func createKey(t *testing.T, c client, admin, body string) (key, id string) {
	t.Helper()
	status, m := c.call("POST", "/auth/api-keys", admin, body)
	key, _ = m["key"].(string)
	id, _ = m["id"].(string)
	if status != 201 || key == "" || id == "" {
		t.Fatalf("create key %s: %d %v", body, status, m)
	}
	return key, id
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
func apiKey(key string) http.Header   { return http.Header{"X-Api-Key": {key}} }

// with returns a copy of h with one more value of name.
func with(h http.Header, name, value string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h[http.CanonicalHeaderKey(name)] = append(h[http.CanonicalHeaderKey(name)], value)
	return h
}

// TestNginxForwardAuth: deploy/nginx/relayauth.conf in front of a service,
// the real server behind it. What the service sees comes from Relay Auth
// only; what it is spared never reaches it.
func TestNginxForwardAuth(t *testing.T) {
	nginxBinary(t) // skip (or fail under CI) before starting anything
	relay, _, stopRelay := startRun(t, baseEnv())
	c := client{t, relay}
	admin, _ := c.login(e2ePassword)
	reader, _ := createKey(t, c, admin, `{"name":"reader","tenant":"acme","scopes":["orders:read"]}`)
	writer, _ := createKey(t, c, admin, `{"name":"writer","tenant":"acme","scopes":["orders:write"]}`)
	app := startUpstream(t)
	front := startNginx(t, relay, app.srv.URL)

	type want struct {
		status    int
		challenge string            // the WWW-Authenticate the client gets, "" none
		relay     map[string]string // headers the upstream must see with this value ("": absent)
	}
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   string
		want   want
	}{
		{"no credential", "GET", "/orders/1", nil, "", want{status: 401, challenge: `Bearer realm="relayauth"`}},
		{"a bad token", "GET", "/orders/1", bearer("not-a-token"), "",
			want{status: 401, challenge: `Bearer realm="relayauth", error="invalid_token"`}},
		{"a bad API key", "GET", "/", apiKey("rk_test_nope"), "",
			want{status: 401, challenge: `Bearer realm="relayauth", error="invalid_token"`}},
		{"admin token", "GET", "/orders/1", bearer(admin), "",
			want{status: 200, relay: map[string]string{"X-Relay-Subject": "admin", "X-Relay-Tenant": "platform", "X-Relay-Auth-Method": "jwt"}}},
		{"forged identity is overwritten", "GET", "/orders/1",
			with(with(with(bearer(admin), "X-Relay-Subject", "mallory"), "X-Relay-Tenant", "evil"), "X-Relay-Roles", "admin"), "",
			want{status: 200, relay: map[string]string{"X-Relay-Subject": "admin", "X-Relay-Tenant": "platform", "X-Relay-Roles": "admin"}}},
		{"an API key's empty session id removes a forged one", "GET", "/tenants/acme/orders",
			with(with(apiKey(reader), "X-Relay-Session-Id", "forged-session"), "X-Relay-Subject", "mallory"), "",
			want{status: 200, relay: map[string]string{"X-Relay-Tenant": "acme", "X-Relay-Auth-Method": "api_key",
				"X-Relay-Scopes": "orders:read", "X-Relay-Session-Id": ""}}},
		{"a public location passes no forged identity", "GET", "/healthz",
			with(with(nil, "X-Relay-Subject", "mallory"), "X-Relay-Tenant", "evil"), "",
			want{status: 200, relay: map[string]string{"X-Relay-Subject": "", "X-Relay-Tenant": ""}}},
		{"POST body reaches the service, not Relay Auth", "POST", "/orders/1", with(apiKey(reader), "Content-Type", "application/json"), `{"qty":3}`,
			want{status: 200, relay: map[string]string{"X-Relay-Tenant": "acme"}}},
		{"a client's X-Relay-Require never reaches Relay Auth", "GET", "/", with(apiKey(reader), "X-Relay-Require", "roles=nobody"), "",
			want{status: 200, relay: map[string]string{"X-Relay-Tenant": "acme"}}},
		{"own tenant", "GET", "/tenants/acme/orders/7", apiKey(writer), "",
			want{status: 200, relay: map[string]string{"X-Relay-Tenant": "acme"}}},
		{"another tenant is not found", "GET", "/tenants/globex/orders/7", apiKey(reader), "", want{status: 404}},
		{"a forged X-Original-URI is replaced", "GET", "/tenants/globex/orders/7",
			with(apiKey(reader), "X-Original-URI", "/tenants/acme/orders/7"), "", want{status: 404}},
		{"a forged X-Forwarded-Uri is removed", "GET", "/tenants/globex/orders/7",
			with(apiKey(reader), "X-Forwarded-Uri", "/tenants/acme/orders/7"), "", want{status: 404}},
		{"admin passes any tenant", "GET", "/tenants/globex/orders/7", bearer(admin), "",
			want{status: 200, relay: map[string]string{"X-Relay-Tenant": "platform"}}},
		{"missing scope", "GET", "/orders/1", apiKey(writer), "",
			want{status: 403, challenge: `Bearer realm="relayauth", error="insufficient_scope"`}},
		{"dot segments into another tenant", "GET", "/tenants/acme/../globex/orders", apiKey(reader), "", want{status: 400}},
		{"encoded slash", "GET", "/tenants/acme%2F..%2Fglobex/orders", apiKey(reader), "", want{status: 400}},
		{"a token in the query", "GET", "/orders/1?access_token=" + admin, apiKey(reader), "",
			want{status: 400, challenge: `Bearer realm="relayauth", error="invalid_request"`}},
		{"an API key twice", "GET", "/", with(apiKey(reader), "X-Api-Key", reader), "",
			want{status: 400, challenge: `Bearer realm="relayauth", error="invalid_request"`}},
		{"two credentials", "GET", "/", with(apiKey(reader), "Authorization", "Bearer "+admin), "",
			want{status: 400, challenge: `Bearer realm="relayauth", error="invalid_request"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := app.calls.Load()
			resp, saw := through(t, front, tt.method, tt.path, tt.header, tt.body)
			called := app.calls.Load() - before
			if resp.StatusCode != tt.want.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want.status)
			}
			if got := strings.Join(resp.Header.Values("WWW-Authenticate"), " | "); got != tt.want.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.want.challenge)
			}
			if tt.want.status != 200 {
				if called != 0 {
					t.Fatalf("a %d, but the upstream was called %d times", resp.StatusCode, called)
				}
				return
			}
			if called != 1 {
				t.Fatalf("the upstream was called %d times, want once", called)
			}
			for name, v := range tt.want.relay {
				if got, ok := saw.Relay[name]; v == "" && ok {
					t.Errorf("upstream saw %s: %q, want it absent", name, got)
				} else if v != "" && (len(got) != 1 || got[0] != v) {
					t.Errorf("upstream saw %s: %q, want exactly %q", name, got, v)
				}
			}
			for name, values := range saw.Relay {
				if !isRelayHeader(name) {
					t.Errorf("upstream saw %s, which Relay Auth does not send", name)
				}
				for _, v := range values {
					if strings.Contains(v, "mallory") || strings.Contains(v, "evil") || strings.Contains(v, "forged") {
						t.Errorf("a client's forged value reached the upstream: %s: %q", name, v)
					}
				}
			}
			if saw.Path != tt.path {
				t.Errorf("upstream got %q, want the request-URI Relay Auth judged, %q", saw.Path, tt.path)
			}
			if saw.Body != tt.body {
				t.Errorf("upstream got the body %q, want %q", saw.Body, tt.body)
			}
		})
	}

	// A JWT's answer carries every identity header, with values that
	// mean what the contract says; the request id is nginx's, not the
	// client's.
	t.Run("every identity header of a token", func(t *testing.T) {
		_, saw := through(t, front, "GET", "/", with(bearer(admin), "X-Request-Id", "client-chosen"), "")
		for _, name := range relayHeaders {
			if v := saw.Relay[name]; len(v) != 1 || v[0] == "" {
				t.Errorf("%s: %q, want one value", name, v)
			}
		}
		if len(saw.IDs) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(saw.IDs[0]) {
			t.Errorf("X-Request-Id %q at the service, want nginx's $request_id only", saw.IDs)
		}
		// REVOCATION_SLA's default, 5s, bounds it.
		if age, err := strconv.Atoi(first(saw.Relay["X-Relay-Cache-Max-Age"])); err != nil || age < 0 || age > 5 {
			t.Errorf("X-Relay-Cache-Max-Age %q is not within [0, 5]", saw.Relay["X-Relay-Cache-Max-Age"])
		}
	})

	// Revocations take effect on the next request through nginx: it
	// caches nothing.
	t.Run("logout", func(t *testing.T) {
		access, _ := c.login(e2ePassword)
		if resp, _ := through(t, front, "GET", "/orders/1", bearer(access), ""); resp.StatusCode != 200 {
			t.Fatalf("before logout: %d", resp.StatusCode)
		}
		if status, _ := c.call("POST", "/auth/logout", access, ""); status != 204 {
			t.Fatalf("logout: %d", status)
		}
		before := app.calls.Load()
		resp, _ := through(t, front, "GET", "/orders/1", bearer(access), "")
		if resp.StatusCode != 401 || app.calls.Load() != before {
			t.Fatalf("after logout: %d, upstream called %d times", resp.StatusCode, app.calls.Load()-before)
		}
	})
	t.Run("API key revocation", func(t *testing.T) {
		key, id := createKey(t, c, admin, `{"name":"doomed","tenant":"acme","scopes":["orders:read"]}`)
		if resp, _ := through(t, front, "GET", "/orders/1", apiKey(key), ""); resp.StatusCode != 200 {
			t.Fatalf("before revocation: %d", resp.StatusCode)
		}
		if status, _ := c.call("DELETE", "/auth/api-keys/"+id, admin, ""); status != 204 {
			t.Fatalf("revoke: %d", status)
		}
		before := app.calls.Load()
		resp, _ := through(t, front, "GET", "/orders/1", apiKey(key), "")
		if resp.StatusCode != 401 || app.calls.Load() != before {
			t.Fatalf("after revocation: %d, upstream called %d times", resp.StatusCode, app.calls.Load()-before)
		}
	})

	// Nobody to ask: nobody passes.
	t.Run("Relay Auth down", func(t *testing.T) {
		stopRelay()
		before := app.calls.Load()
		for _, path := range []string{"/orders/1", "/tenants/acme/orders", "/"} {
			resp, _ := through(t, front, "GET", path, bearer(admin), "")
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s with Relay Auth down: %d, Retry-After %q; want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		if n := app.calls.Load() - before; n != 0 {
			t.Fatalf("Relay Auth is down, but the upstream was called %d times", n)
		}
		if resp, _ := through(t, front, "GET", "/healthz", nil, ""); resp.StatusCode != 200 {
			t.Errorf("the public location depends on Relay Auth: %d", resp.StatusCode)
		}
	})
}

// Relay Auth up but unable to vouch (its session store is gone): its 503,
// which auth_request turns into a 500, reaches the client as a 503.
func TestNginxSessionStoreDown(t *testing.T) {
	nginxBinary(t)
	store := testredis.Start(t, 0, t.TempDir())
	env := merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis", "REDIS_URL": "redis://" + store.Addr() + "/0",
		"REVOCATION_SLA": "1s"})
	relay, _, _ := startRun(t, env)
	access, _ := client{t, relay}.login(e2ePassword)
	app := startUpstream(t)
	front := startNginx(t, relay, app.srv.URL)
	if resp, _ := through(t, front, "GET", "/orders/1", bearer(access), ""); resp.StatusCode != 200 {
		t.Fatalf("with Redis up: %d", resp.StatusCode)
	}

	store.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := app.calls.Load()
		resp, _ := through(t, front, "GET", "/orders/1", bearer(access), "")
		if resp.StatusCode == 503 {
			if app.calls.Load() != before {
				t.Fatal("a 503, but the upstream was called")
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("a 503 without Retry-After")
			}
			return
		}
		if resp.StatusCode != 200 || time.Now().After(deadline) {
			t.Fatalf("with Redis down: %d, want 200 until Relay Auth notices, then 503", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isRelayHeader(name string) bool {
	for _, h := range relayHeaders {
		if h == name {
			return true
		}
	}
	return false
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
