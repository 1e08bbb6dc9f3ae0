package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The operator console, driven in a real headless Chromium against the real
// server (run → serve, as the binary runs it). Screenshots of every page go
// to a temporary folder (RELAY_CONSOLE_SCREENSHOTS to choose it), whose path
// the test logs.

// injected is what an attacker puts in a user agent and a key name: shown
// as text by the console, it runs nothing.
const injected = `<script>window.__pwned="script"</script><img src=x onerror="window.__pwned='img'">`

// chromiumPath finds Debian's chromium. Without it the test skips, and
// fails under CI=true: CI must run it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: the console's browser tests cannot run (scripts/test.sh installs Debian's chromium)")
	}
	t.Skip("chromium is not installed; the console's browser tests skip (apt-get install chromium)")
	return ""
}

// browser starts one headless Chromium for the test and returns a context
// for its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// tab runs steps with a deadline, failing the test with what it was doing.
type tab struct {
	t    *testing.T
	ctx  context.Context
	shot string // screenshot folder
}

func (b tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b tab) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate of the page.
func (b tab) waitFor(what, predicate string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s: %v\nerror banner: %q", what, err, b.eval(`document.getElementById('error') ? document.getElementById('error').textContent : ''`))
	}
}

// set sets a form field's value, as a paste would.
func (b tab) set(selector, value string) {
	b.t.Helper()
	b.eval(`(e => { e.value = ` + jsString(value) + `; return '' })(document.querySelector(` + jsString(selector) + `))`)
}

// settle waits for a predicate across page navigations, which cut a poll
// short.
func (b tab) settle(what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s: timed out", what)
}

func (b tab) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// answer makes the tab receive status and body for requests matching the
// URL patterns, until the returned stop is called.
func (b tab) answer(status int64, body string, patterns ...string) (stop func()) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	target := chromedp.FromContext(b.ctx).Target
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	var ps []*fetch.RequestPattern
	for _, p := range patterns {
		ps = append(ps, &fetch.RequestPattern{URLPattern: p})
	}
	if _, err := cdp.Call(ctx, target, fetch.Enable, fetch.EnableParams{Patterns: ps}); err != nil {
		b.t.Fatalf("intercepting: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = cdp.Call(ctx, target, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: status, Body: []byte(body),
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/problem+json"}, {Name: "Retry-After", Value: "1"}},
			})
		}
	}()
	return func() {
		_, _ = cdp.Call(b.ctx, target, fetch.Disable, cdp.Empty{})
		cancel()
		<-done
	}
}

// refusal waits for the error banner to begin with want.
func (b tab) refusal(status, want string) {
	b.t.Helper()
	b.waitFor("the "+status+" refusal, "+want, `(e => !e.hidden && e.textContent.startsWith(`+jsString(want)+`))(document.getElementById('error'))`)
}

// labelled fails the test if a visible control has no accessible name: a
// label, an aria-label, or a button's text.
func (b tab) labelled() {
	b.t.Helper()
	missing := b.eval(`JSON.stringify([...document.querySelectorAll('input, button, select, textarea')]
		.filter(e => e.offsetParent !== null)
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map(e => e.outerHTML))`)
	if missing != "[]" {
		b.t.Errorf("controls without a label: %s", missing)
	}
}

// notPwned fails the test if any injected markup ran.
func (b tab) notPwned() {
	b.t.Helper()
	if v := b.eval(`String(window.__pwned)`); v != "undefined" {
		b.t.Fatalf("injected markup ran: window.__pwned = %s", v)
	}
}

// issue mints a session through /auth/tokens, with a user agent of our choosing.
func issue(t *testing.T, base, admin, subject, tenant, userAgent string) (access, sessionID string) {
	t.Helper()
	body := fmt.Sprintf(`{"subject":%q,"tenant":%q,"scopes":["orders:read"]}`, subject, tenant)
	req, _ := http.NewRequest("POST", base+"/auth/tokens", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("User-Agent", userAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		AccessToken string `json:"access_token"`
		SessionID   string `json:"session_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("issue %s: %d %v", subject, resp.StatusCode, err)
	}
	return p.AccessToken, p.SessionID
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("RELAY_CONSOLE_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "relayauth-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots: %s", dir)
	return dir
}

func TestConsoleBrowser(t *testing.T) {
	ctx := browser(t)
	start := time.Now()
	base, _, _ := startRun(t, merge(baseEnv(), map[string]string{"CONSOLE_ENABLED": "true"}))
	c := client{t, base}
	admin, _ := c.login(e2ePassword)
	aliceToken, _ := issue(t, base, admin, "alice", "acme", "Mozilla/5.0 "+injected)
	bobToken, _ := issue(t, base, admin, "bob", "globex", "curl/8.0")
	issue(t, base, admin, "carol", "acme", "carol-agent")
	status, m := c.call("POST", "/auth/api-keys", admin, `{"name":"acme-ops","tenant":"acme","roles":["tenant_admin"],"scopes":["api_keys:read","api_keys:write"]}`)
	if status != 201 {
		t.Fatalf("tenant admin key: %d %v", status, m)
	}
	tenantKey := m["key"].(string)
	c.call("POST", "/auth/api-keys", admin, `{"name":"globex-billing","tenant":"globex","scopes":["orders:read"]}`)
	// A failed login, so the chart has a failure to draw.
	c.call("POST", "/auth/login", "", `{"username":"admin","password":"wrong"}`)

	b := tab{t: t, ctx: ctx, shot: screenshotDir(t)}
	consoleURL := base + "/console/"

	t.Run("sign in and overview", func(t *testing.T) {
		b.t = t
		b.do("open the console", chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS("#page-signin")))
		b.screenshot("signin")
		// By keyboard: the password field has the focus, Enter submits.
		if focused := b.eval(`document.activeElement.id`); focused != "password" {
			t.Errorf("focus on the sign-in page is on %q, want the password", focused)
		}
		b.labelled()
		b.do("a wrong password", chromedp.SendKeys(chromedp.CSS("#password"), "wrong"+kb.Enter))
		b.waitFor("the refusal", `document.getElementById('error').textContent === 'Sign-in refused: unauthenticated: invalid username or password.'`)
		b.set("#password", "")
		b.do("sign in", chromedp.SendKeys(chromedp.CSS("#password"), e2ePassword+kb.Enter))
		b.waitFor("the overview", `!document.getElementById('page-overview').hidden && document.getElementById('ready').textContent === 'Ready' && !!document.querySelector('#chart svg polyline')`)
		if got := b.eval(`document.querySelector('#signing').textContent`); !strings.Contains(got, "HS256") {
			t.Errorf("signing card: %q", got)
		}
		if got := b.eval(`document.querySelector('#chart svg').getAttribute('aria-label')`); !strings.Contains(got, "Failed logins 2") {
			t.Errorf("chart: %q", got)
		}
		// Nothing the console holds is in web storage or the URL.
		if got := b.eval(`JSON.stringify([localStorage.length, sessionStorage.length, location.href, document.cookie])`); got != `[0,0,"`+consoleURL+`#/overview",""]` {
			t.Errorf("storage, URL, script-visible cookies: %s", got)
		}
		b.labelled()
		b.screenshot("overview")
	})

	t.Run("find and revoke a session", func(t *testing.T) {
		b.t = t
		b.do("sessions page", chromedp.Navigate(consoleURL+"#/sessions"), chromedp.WaitVisible(chromedp.CSS("#page-sessions")),
			chromedp.SendKeys(chromedp.CSS("#f-subject"), "alice"), chromedp.SendKeys(chromedp.CSS("#f-tenant"), "acme"),
			chromedp.Click(chromedp.CSS("#sessions-filter button")))
		b.waitFor("alice's session", `document.querySelectorAll('#sessions-table tr[data-session]').length === 1`)
		ua := b.eval(`document.querySelector('#sessions-table td.ua').textContent`)
		if !strings.Contains(ua, injected) {
			t.Errorf("the user agent is not shown as text: %q", ua)
		}
		if n := b.eval(`String(document.querySelectorAll('#sessions-table script, #sessions-table img').length)`); n != "0" {
			t.Errorf("the user agent became %s elements", n)
		}
		b.labelled()
		b.screenshot("sessions")
		b.do("revoke", chromedp.Click(chromedp.CSS("#sessions-table tr[data-session] button")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if text := b.eval(`document.getElementById('confirm-text').textContent`); !strings.Contains(text, `"alice"`) || !strings.Contains(text, `"acme"`) {
			t.Errorf("the confirmation does not name the session: %q", text)
		}
		b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitFor("the revocation", `document.getElementById('status').textContent.startsWith('Revoked the session of alice')`)
		if status, _ := c.call("GET", "/auth/me", aliceToken, ""); status != 401 {
			t.Errorf("alice's token after revocation in the console: %d", status)
		}
		// A mass revocation names its scope and count before it acts.
		b.set("#f-subject", "")
		b.set("#f-tenant", "globex")
		b.do("revoke a tenant", chromedp.Click(chromedp.CSS("#revoke-tenant")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if text := b.eval(`document.getElementById('confirm-text').textContent`); !strings.Contains(text, `tenant "globex": 1 session`) {
			t.Errorf("mass revocation confirmation: %q", text)
		}
		b.screenshot("sessions-confirm")
		b.do("cancel", chromedp.Click(chromedp.CSS("#confirm-cancel")))
		if status, _ := c.call("GET", "/auth/me", bobToken, ""); status != 200 {
			t.Errorf("a cancelled revocation revoked: %d", status)
		}
		b.notPwned()
	})

	t.Run("API key shown once, rotated, revoked", func(t *testing.T) {
		b.t = t
		name := `ci <img src=x onerror="window.__pwned='key'">` // names are at most 64 characters
		b.do("keys page", chromedp.Navigate(consoleURL+"#/keys"), chromedp.WaitVisible(chromedp.CSS("#key-create")))
		b.set("#c-tenant", "acme")
		b.do("create a key", chromedp.SendKeys(chromedp.CSS("#c-name"), name),
			chromedp.SendKeys(chromedp.CSS("#c-appscopes"), "orders:read"), chromedp.Click(chromedp.CSS("#key-create button[type=submit]")))
		b.waitFor("the new key", `!document.getElementById('secret').hidden && document.getElementById('secret-value').value.startsWith('rk_test_')`)
		key := b.eval(`document.getElementById('secret-value').value`)
		if status, _ := callWithKey(t, base, "GET", "/auth/me", key); status != 200 {
			t.Fatalf("the key the console showed: %d", status)
		}
		b.waitFor("the key's row", `[...document.querySelectorAll('#keys-table tr[data-key]')].some(r => r.cells[0].textContent === `+jsString(name)+`)`)
		// The API's refusals are sentences: a name taken (409), a bad scope (400).
		b.do("hide the key", chromedp.Click(chromedp.CSS("#secret-done")))
		b.set("#c-tenant", "acme")
		b.do("the same name again", chromedp.SendKeys(chromedp.CSS("#c-name"), name), chromedp.Click(chromedp.CSS("#key-create button[type=submit]")))
		b.refusal("409", "Conflict: API key name already used in this tenant")
		b.set("#c-name", "bad-scope")
		b.set("#c-appscopes", "Not A Scope")
		b.do("a bad scope", chromedp.Click(chromedp.CSS("#key-create button[type=submit]")))
		b.refusal("400", `The server refused the request: invalid request: unknown scope "Not A Scope"`)
		if b.eval(`String(document.getElementById('secret').hidden)`) != "true" {
			t.Error("a refused create shows a key panel")
		}
		b.screenshot("keys-created")
		b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#keys-table")))
		b.waitFor("the list after a reload", `document.querySelectorAll('#keys-table tr[data-key]').length >= 3`)
		if b.eval(`String(document.documentElement.outerHTML.includes(`+jsString(key)+`) || document.getElementById('secret-value').value !== '')`) != "false" {
			t.Error("a reload shows the raw key again")
		}
		row := `[...document.querySelectorAll('#keys-table tr[data-key]')].find(r => r.cells[0].textContent === ` + jsString(name) + `)`
		if masked := b.eval(row + `.cells[2].textContent`); !strings.HasPrefix(masked, "rk_test_…") || strings.Contains(key, masked[len("rk_test_…"):]) == false {
			t.Errorf("masked key %q", masked)
		}
		b.eval(row + `.querySelector('button').click(), ''`) // Rotate
		b.do("rotate dialog", chromedp.WaitVisible(chromedp.CSS("#grace")))
		b.set("#grace", "600")
		b.do("rotate", chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitFor("the rotated key", `!document.getElementById('secret').hidden && document.getElementById('secret-value').value.startsWith('rk_test_') && document.getElementById('secret-value').value !== `+jsString(key))
		rotated := b.eval(`document.getElementById('secret-value').value`)
		b.waitFor("rotation state", row+` && `+row+`.cells[7].textContent.startsWith('Rotated; old key valid until')`)
		for _, k := range []string{key, rotated} {
			if status, _ := callWithKey(t, base, "GET", "/auth/me", k); status != 200 {
				t.Errorf("during the grace period a key answers %d", status)
			}
		}
		b.labelled()
		b.screenshot("keys-rotated")
		b.do("hide the key", chromedp.Click(chromedp.CSS("#secret-done")))
		b.eval(row + `.querySelectorAll('button')[1].click(), ''`) // Revoke
		b.do("revoke dialog", chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitFor("revoked state", row+`.cells[7].textContent.startsWith('Revoked')`)
		for _, k := range []string{key, rotated} {
			if status, _ := callWithKey(t, base, "GET", "/auth/me", k); status != 401 {
				t.Errorf("a revoked key answers %d", status)
			}
		}
		b.screenshot("keys")
		b.notPwned()
	})

	t.Run("migrations page", func(t *testing.T) {
		b.t = t
		b.do("migrations", chromedp.Navigate(consoleURL+"#/migrations"), chromedp.WaitVisible(chromedp.CSS("#page-migrations")))
		b.waitFor("the list", `document.querySelectorAll('#migrations li').length > 0`)
		// Whatever a migration answers here (the memory store has no Redis
		// to migrate), the page says it in words.
		b.do("run schema-v2", chromedp.Click(chromedp.CSS(`button[aria-label="Run migration schema-v2"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitFor("an answer", `document.getElementById('migration-result').textContent.startsWith('schema-v2: ') || !document.getElementById('error').hidden`)
		t.Logf("schema-v2 in the console: result %q, error %q", b.eval(`document.getElementById('migration-result').textContent`), b.eval(`document.getElementById('error').textContent`))
		b.screenshot("migrations")
	})

	t.Run("narrow screen", func(t *testing.T) {
		b.t = t
		b.do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(consoleURL+"#/overview"))
		b.waitFor("the overview", `document.getElementById('ready').textContent === 'Ready'`)
		if w := b.eval(`String(document.documentElement.scrollWidth <= window.innerWidth + 1)`); w != "true" {
			t.Errorf("the overview scrolls sideways on a narrow screen")
		}
		b.screenshot("overview-narrow")
		b.do("wide", chromedp.EmulateViewport(1280, 900))
	})

	t.Run("another origin can neither post nor frame", func(t *testing.T) {
		b.t = t
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			switch r.URL.Path {
			case "/frame":
				fmt.Fprintf(w, `<iframe id="f" src="%s"></iframe>`, consoleURL)
			default:
				// fetch with the browser's cookies, then a form post
				// that smuggles JSON as text/plain: both classic CSRF.
				fmt.Fprintf(w, `<form id="f" method="POST" enctype="text/plain" action="%[1]s/console/api/auth/sessions/revoke">
<input name='{"all":true,"x":"' value='"}'></form>
<script>fetch(%[2]q, {method:"POST", mode:"no-cors", credentials:"include", headers:{"Content-Type":"text/plain"}, body:'{"all":true}'})
.finally(() => { document.title = "fetched"; document.getElementById("f").submit(); });</script>`, base, base+"/console/api/auth/sessions/revoke")
			}
		}))
		defer evil.Close()
		b.do("the attack page", chromedp.Navigate(evil.URL+"/post"))
		b.settle("the form post's answer", `location.href.startsWith(`+jsString(base)+`) && document.body.textContent.includes('403')`)
		if status, _ := c.call("GET", "/auth/me", bobToken, ""); status != 200 {
			t.Errorf("a cross-origin post revoked sessions: bob's token %d", status)
		}
		b.do("the framing page", chromedp.Navigate(evil.URL+"/frame"), chromedp.Sleep(500*time.Millisecond))
		// The console refuses to be framed (frame-ancestors 'none'):
		// Chromium puts an error page in the frame instead.
		frames := b.childFrames()
		if len(frames) != 1 {
			t.Fatalf("frames of the framing page: %+v", frames)
		}
		if f := frames[0]; strings.HasPrefix(f.URL, base) || strings.HasPrefix(f.SecurityOrigin, base) {
			t.Errorf("the console loaded in a frame of another origin: url %q origin %q", f.URL, f.SecurityOrigin)
		}
		// And the console itself is still signed in.
		b.do("back to the console", chromedp.Navigate(consoleURL+"#/overview"))
		b.waitFor("the overview, still signed in", `document.getElementById('ready').textContent === 'Ready'`)
	})

	t.Run("revoking the console's own session signs it out", func(t *testing.T) {
		b.t = t
		b.do("sessions of admin", chromedp.Navigate(consoleURL+"#/sessions"), chromedp.WaitVisible(chromedp.CSS("#page-sessions")))
		b.set("#f-tenant", "platform")
		b.set("#f-subject", "admin")
		b.do("find", chromedp.Click(chromedp.CSS("#sessions-filter button")))
		b.waitFor("the console's session", `[...document.querySelectorAll('#sessions-table tr[data-session]')].some(r => r.textContent.includes('this console'))`)
		b.eval(`[...document.querySelectorAll('#sessions-table tr[data-session]')].find(r => r.textContent.includes('this console')).querySelector('button').click(), ''`)
		b.do("confirm", chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if text := b.eval(`document.getElementById('confirm-text').textContent`); !strings.Contains(text, "you will be signed out") {
			t.Errorf("the confirmation does not warn: %q", text)
		}
		b.do("revoke", chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitVisible(chromedp.CSS("#page-signin")))
		b.refusal("401", "You are signed out: ")
		b.do("sign in again", chromedp.SendKeys(chromedp.CSS("#password"), e2ePassword+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#page-overview")))
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		b.t = t
		b.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#page-signin")))
		status, m := c.call("GET", "/auth/sessions?subject=admin&tenant=platform", admin, "")
		if status != 200 || len(m["sessions"].([]any)) != 1 { // only the test's own login is left
			t.Errorf("admin sessions after the console signed out: %d %v", status, m)
		}
	})

	t.Run("a tenant admin sees its tenant only", func(t *testing.T) {
		b.t = t
		b.do("sign in with a key", chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS("#page-signin")),
			chromedp.Click(chromedp.CSS("input[name=method][value=apikey]")), chromedp.SendKeys(chromedp.CSS("#apikey"), tenantKey),
			chromedp.Click(chromedp.CSS("#signin-submit")))
		b.waitFor("signed in", `document.getElementById('who').textContent.startsWith('api-key')|| document.getElementById('who').textContent.includes('(acme)')`)
		b.do("sessions", chromedp.Navigate(consoleURL+"#/sessions"), chromedp.WaitVisible(chromedp.CSS("#page-sessions")))
		b.waitFor("carol's session", `[...document.querySelectorAll('#sessions-table tr[data-session]')].some(r => r.cells[0].textContent === 'carol')`)
		if text := b.eval(`document.getElementById('sessions-table').textContent`); strings.Contains(text, "globex") || strings.Contains(text, "bob") {
			t.Errorf("a tenant admin sees another tenant's sessions: %q", text)
		}
		b.screenshot("tenant-admin-sessions")
		b.do("keys", chromedp.Navigate(consoleURL+"#/keys"), chromedp.WaitVisible(chromedp.CSS("#page-keys")))
		b.waitFor("acme's keys", `document.querySelectorAll('#keys-table tr[data-key]').length > 0`)
		if text := b.eval(`document.getElementById('keys-table').textContent`); strings.Contains(text, "globex") {
			t.Errorf("a tenant admin sees another tenant's keys: %q", text)
		}
		if hidden := b.eval(`String(document.querySelector('#nav a[data-page=migrations]').hidden)`); hidden != "true" {
			t.Error("a tenant admin is offered the migrations")
		}
		// What the API refuses a tenant admin, the console says: a key in
		// another tenant (403), another tenant's sessions (404).
		b.set("#c-tenant", "globex")
		b.set("#c-name", "sneaky")
		b.do("a key in another tenant", chromedp.Click(chromedp.CSS("#key-create button[type=submit]")))
		b.refusal("403", "Not allowed: forbidden: the caller may act only in its own tenant")
		b.do("sessions", chromedp.Navigate(consoleURL+"#/sessions"), chromedp.WaitVisible(chromedp.CSS("#page-sessions")))
		b.set("#f-tenant", "globex")
		b.do("revoke another tenant", chromedp.Click(chromedp.CSS("#revoke-tenant")), chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.refusal("404", "Not found, or not in your tenant: ")
		if status, _ := c.call("GET", "/auth/me", bobToken, ""); status != 200 {
			t.Errorf("a tenant admin's console revoked another tenant: %d", status)
		}
		b.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#page-signin")))
		b.notPwned()
	})

	t.Run("a store that cannot vouch is said, not a blank page", func(t *testing.T) {
		b.t = t
		// The memory store here cannot fail, so the browser is handed the
		// answer the API gives when a store cannot vouch (503, problem+json,
		// Retry-After) for the readiness and the session list.
		stop := b.answer(503, `{"type":"urn:relayauth:problem:unavailable","title":"Service Unavailable","status":503,"detail":"temporarily unavailable; retry shortly"}`,
			"*/console/api/readyz", "*/console/api/auth/sessions*")
		b.do("sign in with the tenant admin's key", chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS("#page-signin")),
			chromedp.Click(chromedp.CSS("input[name=method][value=apikey]")), chromedp.SendKeys(chromedp.CSS("#apikey"), tenantKey+kb.Enter))
		b.waitFor("not ready", `document.getElementById('ready').textContent === 'Not ready: session store unreachable'`)
		b.refusal("503", "The server cannot vouch for this right now")
		b.screenshot("overview-unavailable")
		stop()
		b.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#page-signin")))
	})

	t.Run("a locked-out sign-in says when to retry", func(t *testing.T) {
		b.t = t
		b.do("the password method", chromedp.Click(chromedp.CSS("input[name=method][value=password]")))
		// Two failures so far; 5 are free, the 6th starts a lockout.
		for range 8 {
			b.eval(`document.getElementById('error').hidden = true, document.getElementById('password').value = '', ''`)
			b.do("a wrong password", chromedp.SendKeys(chromedp.CSS("#password"), "wrong"+kb.Enter))
			b.waitFor("the answer", `!document.getElementById('error').hidden && !document.getElementById('signin-submit').disabled`)
			if strings.HasPrefix(b.eval(`document.getElementById('error').textContent`), "Too many") {
				break
			}
		}
		b.refusal("429", "Too many attempts; retry in ")
		b.screenshot("signin-throttled")
	})
	t.Logf("browser tests took %v", time.Since(start).Round(time.Millisecond))
}

// childFrames are the frames inside the tab's page.
func (b tab) childFrames() []*cdp.Frame {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var out []*cdp.Frame
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		for _, child := range res.FrameTree.ChildFrames {
			out = append(out, child.Frame)
		}
		return nil
	}))
	if err != nil {
		b.t.Fatalf("frame tree: %v", err)
	}
	return out
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
