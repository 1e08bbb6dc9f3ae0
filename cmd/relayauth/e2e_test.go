package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayauth/relayauth/internal/testredis"
)

const e2ePassword = "e2e-admin-password-long-enough"

// e2eKey is 32 random bytes (crypto/rand, once), as a signing key must be.
var e2eKey = base64.StdEncoding.EncodeToString([]byte{
	0xa7, 0x3c, 0x58, 0xe1, 0x0f, 0x92, 0xd4, 0x6b, 0x2e, 0xc9, 0x71, 0x15, 0x8a, 0xf6, 0x43, 0xbd,
	0x60, 0x1f, 0xe5, 0x97, 0x3a, 0xcc, 0x08, 0x54, 0xb2, 0x7d, 0x29, 0xf0, 0x86, 0x4e, 0xdb, 0x13,
})

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func baseEnv() map[string]string {
	return map[string]string{
		"LISTEN_ADDR":     "127.0.0.1:0",
		"JWT_SIGNING_KEY": e2eKey,
		"ADMIN_PASSWORD":  e2ePassword,
		"JWT_ISSUER":      "relay-e2e",
		"JWT_AUDIENCE":    "relay-e2e-aud",
	}
}

// lineWriter is a concurrency-safe stdout that reports the listen address.
type lineWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	addr chan string
	once sync.Once
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)

func newLineWriter() *lineWriter { return &lineWriter{addr: make(chan string, 1)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := listenRE.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.addr <- m[1] })
	}
	return len(p), nil
}

func (w *lineWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

// startRun runs the server in-process through run and returns its base URL
// and a stop function that waits for a clean exit.
func startRun(t *testing.T, env map[string]string, args ...string) (string, *lineWriter, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errw := newLineWriter(), newLineWriter()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), envFunc(env), nil, out, errw) }()
	var base string
	select {
	case base = <-out.addr:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited early: %v\nstderr: %s", err, errw.String())
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatalf("serve did not start; stdout %q", out.String())
	}
	waitHealthy(t, base)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v on shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	}
	t.Cleanup(stop)
	return base, out, stop
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/healthz never answered 200", base)
}

type client struct {
	t    *testing.T
	base string
}

func (c client) call(method, path, bearer, body string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
		}
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		c.t.Fatalf("%s %s: error %d is not problem+json", method, path, resp.StatusCode)
	}
	return resp.StatusCode, m
}

func (c client) login(password string) (access, refresh string) {
	c.t.Helper()
	status, m := c.call("POST", "/auth/login", "", `{"username":"admin","password":"`+password+`"}`)
	if status != 200 {
		c.t.Fatalf("login: %d %v", status, m)
	}
	return m["access_token"].(string), m["refresh_token"].(string)
}

// flow logs in, refreshes, logs out, checking each step over HTTP.
func flow(t *testing.T, base, password string) {
	c := client{t, base}
	if status, _ := c.call("POST", "/auth/login", "", `{"username":"admin","password":"wrong"}`); status != 401 {
		t.Fatalf("bad password: %d", status)
	}
	access, refresh := c.login(password)
	if status, me := c.call("GET", "/auth/me", access, ""); status != 200 || me["subject"] != "admin" || me["method"] != "jwt" {
		t.Fatalf("me: %d %v", status, me)
	}
	status, m := c.call("POST", "/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, m)
	}
	access2 := m["access_token"].(string)
	if status, _ := c.call("POST", "/auth/logout", access2, ""); status != 204 {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := c.call("GET", "/auth/me", access2, ""); status != 401 {
		t.Fatalf("me after logout: %d", status)
	}
	if status, _ := c.call("POST", "/auth/refresh", "", `{"refresh_token":"`+m["refresh_token"].(string)+`"}`); status != 401 {
		t.Fatalf("refresh after logout: %d", status)
	}
}

func TestEndToEndInProcess(t *testing.T) {
	base, _, stop := startRun(t, baseEnv())
	flow(t, base, e2ePassword)
	// A 1 MiB header through the real http.Server: a 431 problem, not a
	// plain-text refusal or a dropped connection.
	req, _ := http.NewRequest("GET", base+"/auth/me", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 1<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("1 MiB header: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stop()
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

func TestServeDev(t *testing.T) {
	base, out, _ := startRun(t, map[string]string{"LISTEN_ADDR": "127.0.0.1:0"}, "--dev")
	text := out.String()
	if !strings.Contains(text, "NOT FOR PRODUCTION") {
		t.Fatalf("--dev banner missing: %q", text)
	}
	m := regexp.MustCompile(`password "([^"]+)"`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("--dev did not print the admin password: %q", text)
	}
	// The console is on in --dev, and the banner says where.
	if !strings.Contains(text, "operator console at "+base+"/console/") {
		t.Errorf("--dev banner does not print the console's URL: %q", text)
	}
	if resp, err := http.Get(base + "/console/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /console/ in --dev: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	flow(t, base, m[1])
}

// Without CONSOLE_ENABLED the console does not exist.
func TestServeConsoleOffByDefault(t *testing.T) {
	base, out, _ := startRun(t, baseEnv())
	if strings.Contains(out.String(), "console") {
		t.Errorf("banner mentions a console that is off: %q", out.String())
	}
	resp, err := http.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /console/ with the console off: %d", resp.StatusCode)
	}
}

func TestServeDevRefusesProduction(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--dev"}, envFunc(map[string]string{"RELAY_ENV": "production"}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--dev runs only in development") {
		t.Fatalf("got %v", err)
	}
}

// The real binary: built, started on a free port, driven over HTTP, and
// stopped by SIGTERM with a clean exit.
func TestEndToEndBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(buildBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range baseEnv() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := newLineWriter()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	var base string
	for lines.Scan() {
		if m := listenRE.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("binary did not report its address; stderr: %s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	waitHealthy(t, base)
	flow(t, base, e2ePassword)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	for _, secret := range []string{e2ePassword, e2eKey} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatal("a secret reached the server log")
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds cmd/relayauth once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relayauth-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "relayauth")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// Sessions on the Redis backend survive a restart of the server.
func TestEndToEndRedisRestart(t *testing.T) {
	addr := testredis.Addr(t)
	env := baseEnv()
	env["SESSION_STORE_BACKEND"] = "redis"
	env["REDIS_URL"] = "redis://" + addr + "/0"
	env["REDIS_KEY_PREFIX"] = testredis.Prefix(t)

	base, _, stop := startRun(t, env)
	c := client{t, base}
	access, refresh := c.login(e2ePassword)
	stop()

	base, _, _ = startRun(t, env)
	c = client{t, base}
	if status, _ := c.call("GET", "/auth/me", access, ""); status != 200 {
		t.Fatalf("access token after restart: %d", status)
	}
	status, m := c.call("POST", "/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
	if status != 200 {
		t.Fatalf("refresh after restart: %d %v", status, m)
	}
	if status, _ := c.call("POST", "/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`); status != 401 {
		t.Fatalf("reuse after restart: %d", status)
	}
	if status, _ := c.call("GET", "/auth/me", m["access_token"].(string), ""); status != 401 {
		t.Fatalf("family not revoked after reuse: %d", status)
	}
}

// Secrets of the production cases of TestCheck: none may be printed.
const (
	checkAdminPassword = "check-admin-passphrase-7Qw2vL"
	checkRedisPassword = "redis-pw-Zq8xK3mN"
)

// checkKey is 32 random bytes (crypto/rand, once): a production HS256 key.
var checkKey = base64.StdEncoding.EncodeToString([]byte{
	0x5d, 0xe2, 0x91, 0x0c, 0x7a, 0xb4, 0x36, 0xf8, 0x4b, 0x19, 0xc7, 0x62, 0xae, 0x03, 0xd5, 0x8e,
	0x27, 0xf1, 0x6c, 0x98, 0x3e, 0xb0, 0x55, 0x0a, 0xcd, 0x74, 0x1f, 0xe9, 0x82, 0x4d, 0xa6, 0x3b,
})

// prodEnv is a production configuration that passes every check, with
// its sessions on the Redis at addr, reached with a password.
func prodEnv(addr string) map[string]string {
	return map[string]string{
		"RELAY_ENV": "production", "LISTEN_ADDR": "127.0.0.1:0",
		"JWT_SIGNING_KEY": checkKey, "JWT_ISSUER": "https://auth.example", "JWT_AUDIENCE": "orders",
		"ADMIN_PASSWORD":        checkAdminPassword,
		"SESSION_STORE_BACKEND": "redis", "REDIS_URL": "redis://relay:" + checkRedisPassword + "@" + addr + "/0",
		"AUTH_SIGNING_METRICS_ENABLED": "false",
	}
}

// fakeRedis answers PING, and AUTH with password, as a Redis without
// HELLO (before 6) does; every other command is unknown. It is enough
// for check's PING, and lets the tests without a Redis reach one.
func fakeRedis(t *testing.T, password string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					args, err := readRESP(r)
					if err != nil {
						return
					}
					var reply string
					switch strings.ToUpper(args[0]) {
					case "PING":
						reply = "+PONG\r\n"
					case "AUTH":
						if args[len(args)-1] == password {
							reply = "+OK\r\n"
						} else {
							reply = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
						}
					default:
						reply = "-ERR unknown command '" + args[0] + "'\r\n"
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readRESP reads one command: an array of bulk strings.
func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d\r\n", &n); err != nil || n < 1 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		var size int
		if _, err := fmt.Sscanf(line, "$%d\r\n", &size); err != nil {
			return nil, fmt.Errorf("not a bulk string: %q", line)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// check and serve run one preflight: for every configuration, check's
// answer is serve's refusal, word for word; every problem is listed in
// one run; and no secret is printed.
func TestCheck(t *testing.T) {
	redisAddr := fakeRedis(t, checkRedisPassword)
	prod := prodEnv(redisAddr)
	edKey := base64.StdEncoding.EncodeToString([]byte{ // 32 random bytes: not a PKCS #8 key
		0x91, 0x3f, 0x0e, 0xc2, 0x58, 0xad, 0x67, 0x14, 0xfb, 0x20, 0x8c, 0xd9, 0x45, 0x7e, 0xb3, 0x06,
		0xe8, 0x5a, 0x31, 0x9d, 0xc4, 0x0b, 0x72, 0xaf, 0x16, 0x63, 0xd8, 0x2e, 0x97, 0x4c, 0xf5, 0x80,
	})
	edGood, err := devKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(corrupt, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodFile := filepath.Join(t.TempDir(), "keys.json") // not there yet: created at the first key
	secrets := []string{e2eKey, e2ePassword, checkKey, checkAdminPassword, checkRedisPassword, edKey, edGood}

	tests := []struct {
		name string
		env  map[string]string
		// want is every problem the output must name, one substring each,
		// and exactly as many problems as it lists; nil means OK.
		want []string
	}{
		{"ok", baseEnv(), nil},
		{"everything missing", map[string]string{}, []string{"JWT_SIGNING_KEY is required", "ADMIN_PASSWORD is required"}},
		{"parse and validation problems together", map[string]string{
			"JWT_SIGNING_KEY": base64.StdEncoding.EncodeToString([]byte("short")), "ADMIN_PASSWORD": "x",
			"RELAY_DEBUG": "maybe", "ACCESS_TOKEN_TTL": "soon",
		}, []string{"RELAY_DEBUG must be true or false", "ACCESS_TOKEN_TTL must be a Go duration", "JWT_SIGNING_KEY must decode to at least 32 bytes"}},
		{"short key", map[string]string{"JWT_SIGNING_KEY": base64.StdEncoding.EncodeToString([]byte("short")), "ADMIN_PASSWORD": "x"},
			[]string{"JWT_SIGNING_KEY must decode to at least 32 bytes"}},
		{"production needs issuer and audience", map[string]string{"RELAY_ENV": "production", "JWT_SIGNING_KEY": e2eKey, "ADMIN_PASSWORD": "x"},
			[]string{"JWT_ISSUER is required", "JWT_AUDIENCE is required", "ADMIN_PASSWORD: admin password is shorter",
				"SESSION_STORE_BACKEND: sessions kept in memory", "AUTH_SIGNING_METRICS_ENABLED: metrics exposure not decided"}},
		{"redis without url", merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis"}), []string{"REDIS_URL is required"}},
		{"unknown backend and env", merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "etcd", "RELAY_ENV": "prod"}),
			[]string{"SESSION_STORE_BACKEND must be one of", "RELAY_ENV must be one of"}},
		{"ttl order", merge(baseEnv(), map[string]string{"ACCESS_TOKEN_TTL": "48h"}), []string{"ACCESS_TOKEN_TTL must not exceed REFRESH_TOKEN_TTL"}},
		{"EdDSA with an HMAC secret", merge(baseEnv(), map[string]string{"JWT_SIGNING_ALG": "EdDSA"}),
			[]string{"JWT_SIGNING_KEY is not a usable EdDSA signing key: token: invalid PKCS #8 private key"}},

		{"production ok", prod, nil},
		{"production REDIS_URL with a bad port", merge(prod, map[string]string{"REDIS_URL": "redis://user:" + checkRedisPassword + "@127.0.0.1:abc/0"}),
			[]string{"REDIS_URL must be redis://"}},
		{"production REDIS_URL not redis", merge(prod, map[string]string{"REDIS_URL": "http://x"}),
			[]string{`REDIS_URL must be redis://[user:password@]host:port[/db] (one node), host:port,host:port,... (a Cluster), or redis-sentinel://`}},
		{"production REDIS_URL http with a password", merge(prod, map[string]string{"REDIS_URL": "http://user:" + checkRedisPassword + "@x"}),
			[]string{`scheme "http" is not redis, rediss or unix`}},
		{"production REDIS_URL cluster with credentials", merge(prod, map[string]string{
			"REDIS_URL": "redis://u:" + checkRedisPassword + "@127.0.0.1:7000,redis://u:" + checkRedisPassword + "@127.0.0.1:7001"}),
			[]string{"REDIS_URL has a cluster address with credentials"}},
		{"production REDIS_URL cluster with a bad port", merge(prod, map[string]string{"REDIS_URL": "127.0.0.1:7000,127.0.0.1:x"}),
			[]string{`REDIS_URL cluster address "127.0.0.1:x" has a port that is not a number`}},
		{"production Redis unreachable", merge(prod, map[string]string{"REDIS_URL": "redis://relay:" + checkRedisPassword + "@" + closedAddr(t) + "/0"}),
			[]string{"REDIS_URL names a Redis that could not be PINGed within 3s: dial tcp 127.0.0.1:"}},
		{"production Redis refuses the password", merge(prod, map[string]string{"REDIS_URL": "redis://relay:not-" + checkRedisPassword + "@" + redisAddr + "/0"}),
			[]string{"REDIS_URL names a Redis that could not be PINGed within 3s: WRONGPASS invalid username-password pair"}},
		{"production REDIS_KEY_PREFIX with a brace", merge(prod, map[string]string{"REDIS_KEY_PREFIX": "{relay}:"}),
			[]string{"REDIS_KEY_PREFIX must not contain { or }"}},
		{"production API_KEYS_FILE in a missing directory", merge(prod, map[string]string{"API_KEYS_FILE": "/nonexistent/dir/keys.json"}),
			[]string{"API_KEYS_FILE /nonexistent/dir/keys.json: its directory /nonexistent/dir does not exist"}},
		{"production API_KEYS_FILE corrupt", merge(prod, map[string]string{"API_KEYS_FILE": corrupt}),
			[]string{"API_KEYS_FILE " + corrupt + ": not valid JSON"}},
		{"production API_KEYS_FILE not yet created", merge(prod, map[string]string{"API_KEYS_FILE": goodFile}), nil},
		{"production EdDSA key, debug and admin password at once", merge(prod, map[string]string{
			"JWT_SIGNING_ALG": "EdDSA", "JWT_SIGNING_KEY": edKey, "RELAY_DEBUG": "true", "ADMIN_PASSWORD": "password",
			"JWT_PREVIOUS_SIGNING_KEYS": edGood + "," + edKey}),
			[]string{"RELAY_DEBUG: debug diagnostics are on", "ADMIN_PASSWORD: admin password is on the list of common passwords",
				"JWT_SIGNING_KEY is not a usable EdDSA signing key: token: invalid PKCS #8 private key",
				"JWT_PREVIOUS_SIGNING_KEYS entry 2 is not a usable EdDSA key: token: invalid PKCS #8 private key"}},
		{"production previous key repeats the active one", merge(prod, map[string]string{"JWT_PREVIOUS_SIGNING_KEYS": checkKey}),
			[]string{"JWT_PREVIOUS_SIGNING_KEYS cannot share a key set with JWT_SIGNING_KEY: token: duplicate kid"}},
		{"production: every kind of problem at once", merge(prod, map[string]string{
			"RELAY_DEBUG": "true", "JWT_SIGNING_ALG": "ES256", "JWT_SIGNING_KEY": edGood,
			"REDIS_URL": "redis://user:" + checkRedisPassword + "@127.0.0.1:abc/0", "API_KEYS_FILE": "/nonexistent/dir/keys.json",
			"ACCESS_TOKEN_TTL": "soon"}),
			[]string{"ACCESS_TOKEN_TTL must be a Go duration", "RELAY_DEBUG: debug diagnostics are on",
				"JWT_SIGNING_KEY is not a usable ES256 signing key: token: PKCS #8 key does not match alg ES256",
				"REDIS_URL must be redis://", "API_KEYS_FILE /nonexistent/dir/keys.json: its directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var out, errw strings.Builder
			err := run(ctx, []string{"check"}, envFunc(tt.env), nil, &out, &errw)
			printed := out.String() + errw.String()
			if err != nil {
				printed += err.Error()
			}
			for _, secret := range secrets {
				if strings.Contains(printed, secret) {
					t.Errorf("check printed the secret %q:\n%s", secret, printed)
				}
			}
			if tt.want == nil {
				if err != nil || !strings.Contains(out.String(), "configuration OK") {
					t.Fatalf("check: %v %q", err, out.String())
				}
				if tt.env["SESSION_STORE_BACKEND"] == "redis" && !strings.Contains(out.String(), "Redis answered a PING") {
					t.Errorf("check does not say it reached Redis: %q", out.String())
				}
				if tt.env["SESSION_STORE_BACKEND"] != "redis" {
					// serve starts where check said it would.
					_, _, stop := startRun(t, tt.env)
					stop()
				}
				return
			}
			if err == nil {
				t.Fatalf("check passed a bad configuration: %q", out.String())
			}
			if errors.Is(err, errUsage) {
				t.Fatalf("check: a usage error (exit 2) for a configuration: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("output lacks %q:\n%v", w, err)
				}
			}
			if n := strings.Count(err.Error(), "\n  - "); n != len(tt.want) {
				t.Errorf("%d problems listed, want %d:\n%v", n, len(tt.want), err)
			}
			count := fmt.Sprintf("(%d problems)", len(tt.want))
			if len(tt.want) == 1 {
				count = "(1 problem)"
			}
			if !strings.Contains(err.Error(), count) {
				t.Errorf("the count of problems is not %d:\n%v", len(tt.want), err)
			}

			// serve refuses with exactly check's answer.
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			var sout, serr strings.Builder
			serveErr := run(sctx, []string{"serve"}, envFunc(tt.env), nil, &sout, &serr)
			if serveErr == nil || serveErr.Error() != err.Error() {
				t.Fatalf("serve and check disagree:\nserve: %v\ncheck: %v", serveErr, err)
			}
			if sout.Len()+serr.Len() > 0 {
				t.Errorf("serve printed before refusing: %q %q", sout.String(), serr.String())
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"serve", "extra"}, {"serve", "--nope"}} {
		err := run(context.Background(), args, envFunc(nil), nil, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// A Redis outage under the real server: tokens fail closed with 503 and
// /readyz says not ready; when Redis returns, both recover on their own.
func TestEndToEndRedisOutage(t *testing.T) {
	srv := testredis.Start(t, 0, t.TempDir())
	env := baseEnv()
	env["SESSION_STORE_BACKEND"] = "redis"
	env["REDIS_URL"] = "redis://" + srv.Addr() + "/0"
	env["REVOCATION_SLA"] = "1s"
	base, _, _ := startRun(t, env)
	c := client{t, base}
	access, _ := c.login(e2ePassword)

	status := func(path, bearer string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("the server itself must keep running: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10s: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	srv.Kill()
	eventually("tokens fail closed", func() bool { return status("/auth/me", access) == 503 })
	if s := status("/readyz", ""); s != 503 {
		t.Fatalf("/readyz during the outage: %d", s)
	}
	if s := status("/healthz", ""); s != 200 {
		t.Fatalf("/healthz during the outage: %d (the process is alive)", s)
	}
	srv.Restart()
	eventually("tokens recover", func() bool { return status("/auth/me", access) == 200 })
	eventually("readyz recovers", func() bool { return status("/readyz", "") == 200 })
}

// An asymmetric deployment publishes its public key and nothing private.
func TestServeEdDSAPublishesJWKS(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			base, _, _ := startRun(t, map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "JWT_SIGNING_ALG": alg}, "--dev")
			resp, err := http.Get(base + "/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 || set.Keys[0]["kid"] == "" || set.Keys[0]["alg"] != alg {
				t.Fatalf("jwks %v", set.Keys)
			}
			for _, private := range []string{"d", "k", "p", "q"} {
				if _, ok := set.Keys[0][private]; ok {
					t.Fatalf("jwks publishes private member %q", private)
				}
			}
		})
	}
}

// The real binary refuses every unsafe production configuration, naming
// each problem, and serves with a safe one.
func TestProductionSafetyBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	addr := testredis.Addr(t)
	safe := map[string]string{
		"RELAY_ENV": "production", "LISTEN_ADDR": "127.0.0.1:0",
		"JWT_SIGNING_KEY": base64.StdEncoding.EncodeToString([]byte{0x8f, 0x1c, 0x9a, 0x02, 0xe4, 0x77, 0x3b, 0xd0, 0x5e, 0x61, 0xaa, 0x13, 0xc8, 0x4f, 0x90, 0x2d, 0x7b, 0xee, 0x06, 0x35, 0x9c, 0x41, 0xfa, 0x88, 0x17, 0xd3, 0x6a, 0xb5, 0x20, 0xcf, 0x59, 0x94}),
		"JWT_ISSUER":      "https://auth.example", "JWT_AUDIENCE": "orders",
		"ADMIN_PASSWORD":        "a-long-random-passphrase-9f3k",
		"SESSION_STORE_BACKEND": "redis", "REDIS_URL": "redis://" + addr + "/0", "REDIS_KEY_PREFIX": testredis.Prefix(t),
		"AUTH_SIGNING_METRICS_ENABLED": "false",
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"debug", merge(safe, map[string]string{"RELAY_DEBUG": "true"}), []string{"RELAY_DEBUG"}},
		{"demo mocks", merge(safe, map[string]string{"RELAY_DEMO_MOCKS": "true"}), []string{"RELAY_DEMO_MOCKS"}},
		{"mock signing", merge(safe, map[string]string{"RELAY_MOCK_SIGNING": "1"}), []string{"RELAY_MOCK_SIGNING"}},
		{"weak key", merge(safe, map[string]string{"JWT_SIGNING_KEY": base64.StdEncoding.EncodeToString([]byte("my-company-jwt-signing-passphrase!"))}), []string{"JWT_SIGNING_KEY"}},
		{"memory store", merge(safe, map[string]string{"SESSION_STORE_BACKEND": "memory"}), []string{"SESSION_STORE_BACKEND"}},
		{"weak admin password", merge(safe, map[string]string{"ADMIN_PASSWORD": "admin123"}), []string{"ADMIN_PASSWORD"}},
		{"metrics undecided", merge(safe, map[string]string{"AUTH_SIGNING_METRICS_ENABLED": ""}), []string{"AUTH_SIGNING_METRICS_ENABLED"}},
		{"several at once", merge(safe, map[string]string{"RELAY_DEBUG": "true", "JWT_AUDIENCE": "", "ADMIN_PASSWORD": ""}),
			[]string{"RELAY_DEBUG", "JWT_AUDIENCE", "ADMIN_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, command := range []string{"serve", "check"} {
				cmd := exec.Command(bin, command)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
				for k, v := range tt.env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				// A binary that wrongly starts would serve forever: bound it.
				timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
				out, err := cmd.CombinedOutput()
				timer.Stop()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("%s with an unsafe config: err=%v\n%s", command, err, out)
				}
				for _, w := range tt.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("%s output does not name %s:\n%s", command, w, out)
					}
				}
				if pw := tt.env["ADMIN_PASSWORD"]; pw != "" && strings.Contains(string(out), pw) {
					t.Errorf("%s printed the admin password", command)
				}
			}
		})
	}
	t.Run("safe config starts", func(t *testing.T) {
		var out strings.Builder
		if err := run(context.Background(), []string{"check"}, envFunc(safe), nil, &out, io.Discard); err != nil {
			t.Fatalf("check: %v", err)
		}
		base, _, _ := startRun(t, safe)
		flow(t, base, safe["ADMIN_PASSWORD"])
	})
}

// The mock signer uses the published demo key outside production and
// cannot exist in production, even if the validator were skipped.
func TestMockSigningKeySet(t *testing.T) {
	r, err := preflight(context.Background(), envFunc(merge(baseEnv(), map[string]string{"RELAY_MOCK_SIGNING": "true"})))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ks := r.cfg, r.keys
	plain := cfg
	plain.MockSigning = false
	real, err := keySet(plain)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Active().ID() == real.Active().ID() {
		t.Fatal("mock signing did not switch to the demo key")
	}
	cfg.Env = "production"
	if _, err := keySet(cfg); err == nil || !strings.Contains(err.Error(), "RELAY_MOCK_SIGNING") {
		t.Fatalf("production mock signer: %v", err)
	}
}

// Two instances on one Redis: a logout on A is refused on B within 2 s
// (loosely: the load kit measures it precisely), and B's
// auth_revocation_propagation_seconds counts it.
func TestTwoInstancesRevocation(t *testing.T) {
	addr := testredis.Addr(t)
	env := merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis", "REDIS_URL": "redis://" + addr + "/0",
		"REDIS_KEY_PREFIX": testredis.Prefix(t), "AUTH_SIGNING_METRICS_ENABLED": "true"})
	baseA, _, _ := startRun(t, env)
	baseB, _, _ := startRun(t, env)
	a, b := client{t, baseA}, client{t, baseB}
	access, _ := a.login(e2ePassword)
	if status, _ := b.call("GET", "/auth/me", access, ""); status != 200 {
		t.Fatalf("B does not know A's session: %d", status)
	}
	if status, _ := a.call("POST", "/auth/logout", access, ""); status != 204 {
		t.Fatalf("logout on A: %d", status)
	}
	start := time.Now()
	for {
		status, _ := b.call("GET", "/auth/me", access, "")
		if status == 401 {
			break
		}
		if status != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("B still answers %d %v after the revocation on A", status, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Get(baseB + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^auth_revocation_propagation_seconds_count [1-9]`).Match(body) {
		t.Fatalf("B's propagation histogram is empty:\n%s", regexp.MustCompile(`(?m)^auth_revocation.*$`).FindAll(body, -1))
	}
}

// The console in production is in the safety report, as a warning: check
// passes and names it, so an operator knows it is on.
func TestCheckReportsConsoleInProduction(t *testing.T) {
	env := merge(prodEnv(fakeRedis(t, checkRedisPassword)), map[string]string{"CONSOLE_ENABLED": "true"})
	var out strings.Builder
	if err := run(context.Background(), []string{"check"}, envFunc(env), nil, &out, io.Discard); err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, want := range []string{"WARNING CONSOLE_ENABLED: the operator console is on", "configuration OK for production"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
}
