package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
)

// The operator console is a page served at /console/ that talks to the
// API through /console/api/{path}: a proxy that reaches an allowlisted
// set of the API's own routes with the credential of the operator who
// signed in, kept on the server. The browser holds only an opaque,
// HttpOnly, SameSite=Strict cookie naming a console session, and a CSRF
// token in memory that every request but sign-in must echo. The cookie
// authenticates nothing but /console/api/: the bearer API never reads it.

//go:embed console
var consoleFiles embed.FS

// consoleAssets are the files under /console/ and their types; anything
// else there is a 404.
var consoleAssets = map[string]string{
	"index.html":  "text/html; charset=utf-8",
	"console.js":  "text/javascript; charset=utf-8",
	"console.css": "text/css; charset=utf-8",
}

// consoleCSP allows nothing but this origin's own script, style and API,
// no inline script or style, no framing (clickjacking) and no forms or
// links that post elsewhere.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Console session limits: an idle console signs out after consoleIdle,
// any console after consoleMaxAge (the Relay Auth session behind it may
// end sooner), and one instance keeps at most maxConsoleSessions.
const (
	consoleIdle        = 30 * time.Minute
	consoleMaxAge      = 12 * time.Hour
	maxConsoleSessions = 1000
	// consoleRenewAhead renews the console's access token this long
	// before it expires.
	consoleRenewAhead = 30 * time.Second
	csrfHeader        = "X-CSRF-Token"
)

// consoleProxied are the API routes the console reaches; every other
// path under /console/api/ is a 404.
var consoleProxied = []string{
	"GET /auth/me",
	"GET /auth/sessions",
	"DELETE /auth/sessions/{id}",
	"POST /auth/sessions/revoke",
	"GET /auth/api-keys",
	"POST /auth/api-keys",
	"GET /auth/api-keys/{id}",
	"POST /auth/api-keys/{id}/rotate",
	"DELETE /auth/api-keys/{id}",
	"GET /admin/health",
	"GET /admin/activity",
	"GET /admin/migrations",
	"POST /admin/migrations/{name}",
	"GET /readyz",
}

// consoleSession is one signed-in console: the credential it acts with,
// which never leaves the server, and its CSRF token.
type consoleSession struct {
	// Set at sign-in, before the session is shared; never changed.
	csrf      string
	created   time.Time
	who       consoleWho
	apiKey    relayauth.Secret // set when signed in with an API key
	sessionID string           // else the Relay Auth session it signed in

	mu       sync.Mutex // guards the fields below, and serialises renewal
	lastUsed time.Time
	access   relayauth.Secret // the session's tokens (password sign-in)
	refresh  relayauth.Secret
	expires  time.Time // of access
}

// consoleWho is the signed-in principal as the console shows it.
type consoleWho struct {
	Subject   string   `json:"subject"`
	Tenant    string   `json:"tenant"`
	Roles     []string `json:"roles"`
	Scopes    []string `json:"scopes"`
	Method    string   `json:"method"`
	SessionID string   `json:"session_id,omitempty"`
}

// consoleSessions are the signed-in consoles of this instance, by the
// SHA-256 of their cookie value. end is called, outside the lock, for
// every console forgotten (signed out, idle, too old, evicted or replaced
// by a second sign-in): the credential it held is gone with it, so the
// Relay Auth session behind it must not outlive it.
type consoleSessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*consoleSession
	end  func(*consoleSession)
}

func newConsoleSessions(end func(*consoleSession)) *consoleSessions {
	return &consoleSessions{byID: map[[32]byte]*consoleSession{}, end: end}
}

func consoleKey(cookie string) [32]byte { return sha256.Sum256([]byte(cookie)) }

// add keeps cs under a new cookie value, which it returns. At the limit
// it forgets the expired consoles and then the least recently used.
func (c *consoleSessions) add(cs *consoleSession, now time.Time) string {
	id := newID()
	var dropped []*consoleSession
	c.mu.Lock()
	if len(c.byID) >= maxConsoleSessions {
		var oldest [32]byte
		var oldestUse time.Time
		for k, v := range c.byID {
			v.mu.Lock()
			used := v.lastUsed
			v.mu.Unlock()
			if v.expired(used, now) {
				delete(c.byID, k)
				dropped = append(dropped, v)
				continue
			}
			if oldestUse.IsZero() || used.Before(oldestUse) {
				oldest, oldestUse = k, used
			}
		}
		if len(c.byID) >= maxConsoleSessions {
			dropped = append(dropped, c.byID[oldest])
			delete(c.byID, oldest)
		}
	}
	c.byID[consoleKey(id)] = cs
	c.mu.Unlock()
	for _, v := range dropped {
		c.end(v)
	}
	return id
}

// get returns the live console session of cookie and marks it used.
func (c *consoleSessions) get(cookie string, now time.Time) (*consoleSession, bool) {
	k := consoleKey(cookie)
	c.mu.Lock()
	cs, ok := c.byID[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	cs.mu.Lock()
	expired := cs.expired(cs.lastUsed, now)
	if !expired {
		cs.lastUsed = now
	}
	cs.mu.Unlock()
	if expired {
		c.remove(cookie)
		return nil, false
	}
	return cs, true
}

func (c *consoleSessions) remove(cookie string) {
	k := consoleKey(cookie)
	c.mu.Lock()
	cs, ok := c.byID[k]
	delete(c.byID, k)
	c.mu.Unlock()
	if ok {
		c.end(cs)
	}
}

func (cs *consoleSession) expired(lastUsed, now time.Time) bool {
	return now.Sub(lastUsed) > consoleIdle || now.Sub(cs.created) > consoleMaxAge
}

// endConsole ends the Relay Auth session of a console the server forgot,
// best effort: one already ended (signed out, revoked) is not live.
func (s *server) endConsole(cs *consoleSession) {
	if cs.sessionID == "" {
		return // an API key sign-in: the key is the operator's, not the console's
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Sessions.Revoke(ctx, cs.sessionID); err != nil && !errors.Is(err, relayauth.ErrNotFound) {
		s.Log.Warn("console: the session behind a forgotten console could not be ended; it ends at its expiry",
			"session_id", cs.sessionID, "error", err)
	}
}

// consoleCookie is the cookie's name: with the __Host- prefix wherever it
// is Secure (browsers then refuse it from a subdomain or over http).
func (s *server) consoleCookie() (name string, secure bool) {
	if s.Env == envDevelopment {
		return "relayauth-console", false
	}
	return "__Host-relayauth-console", true
}

func (s *server) setConsoleCookie(w http.ResponseWriter, value string, maxAge int) {
	name, secure := s.consoleCookie()
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

func (s *server) cookieValue(r *http.Request) string {
	name, _ := s.consoleCookie()
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// consoleHeaders adds the console's security headers to every answer
// under /console/.
func consoleHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// handleConsoleAsset serves the console's embedded files.
func (s *server) handleConsoleAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "" {
			name = "index.html"
		}
		typ, ok := consoleAssets[name]
		if !ok {
			httpauth.WriteError(w, r, s.Log, errNoRoute)
			return
		}
		body, err := consoleFiles.ReadFile(path.Join("console", name))
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		w.Header().Set("Content-Type", typ)
		_, _ = w.Write(body)
	})
}

var (
	errCrossSite      = fmt.Errorf("%w: the console answers only its own pages (cross-site request refused)", relayauth.ErrForbidden)
	errCSRF           = fmt.Errorf("%w: missing or wrong %s; reload the console", relayauth.ErrForbidden, csrfHeader)
	errConsoleSignIn  = fmt.Errorf("%w: not signed in to the console, or the console session ended", relayauth.ErrUnauthenticated)
	errConsoleRoute   = fmt.Errorf("%w: the console does not reach this route", relayauth.ErrNotFound)
	errConsoleSignOut = fmt.Errorf("%w: sign-out could not end the session on the server; try again", relayauth.ErrUnavailable)
)

// sameOrigin refuses a request that a browser says came from another
// site, or whose Origin is not this host. Requests without either header
// (curl, tests) pass this check; they still need the cookie and the CSRF
// token, which only the console's own page can read.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errCrossSite
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return errCrossSite
		}
	}
	return nil
}

// consoleGuard admits a console API request: same origin, a live console
// session, and its CSRF token in the header.
func (s *server) consoleGuard(next func(http.ResponseWriter, *http.Request, *consoleSession, string)) http.Handler {
	return s.consoleAdmit(true, next)
}

// consoleAdmit admits a same-origin request of a live console session,
// with its CSRF token when csrf is set.
func (s *server) consoleAdmit(csrf bool, next func(http.ResponseWriter, *http.Request, *consoleSession, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sameOrigin(r); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		cookie := s.cookieValue(r)
		cs, ok := s.consoles.get(cookie, s.Now())
		if cookie == "" || !ok {
			s.setConsoleCookie(w, "", -1)
			httpauth.WriteError(w, r, s.Log, errConsoleSignIn)
			return
		}
		got := r.Header.Get(csrfHeader)
		if csrf && subtle.ConstantTimeCompare([]byte(got), []byte(cs.csrf)) != 1 {
			s.Audit.Log(r.Context(), audit.Event{Action: "console.csrf", Outcome: audit.Denied,
				Actor: cs.who.Subject, ActorTenant: cs.who.Tenant, Target: r.Method + " " + r.URL.Path})
			httpauth.WriteError(w, r, s.Log, errCSRF)
			return
		}
		next(w, r, cs, cookie)
	})
}

// consoleAnswer is the console's view of its session.
type consoleAnswer struct {
	consoleWho
	CSRFToken   string `json:"csrf_token"`
	Environment string `json:"environment"`
}

// handleConsoleSignIn signs a console in with the admin password (through
// the login handler: throttling, audit and metrics as for any login) or
// with an API key (checked by /auth/me).
func (s *server) handleConsoleSignIn(login, me http.Handler) http.Handler {
	type request struct {
		Username string           `json:"username"`
		Password relayauth.Secret `json:"password"`
		APIKey   relayauth.Secret `json:"api_key"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sameOrigin(r); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		now := s.Now()
		cs := &consoleSession{csrf: newID(), created: now, lastUsed: now}
		switch {
		case req.APIKey != "" && req.Username == "" && req.Password == "":
			cs.apiKey = req.APIKey
		case req.APIKey == "" && req.Username != "":
			body, _ := json.Marshal(map[string]string{"username": req.Username, "password": req.Password.Reveal()})
			c := s.internal(r, login, http.MethodPost, "/auth/login", body, nil)
			if c.status != http.StatusOK {
				c.copyTo(w)
				return
			}
			var p tokenPair
			if err := json.Unmarshal(c.body.Bytes(), &p); err != nil {
				httpauth.WriteError(w, r, s.Log, err)
				return
			}
			cs.access, cs.refresh, cs.sessionID = relayauth.Secret(p.AccessToken), relayauth.Secret(p.RefreshToken), p.SessionID
			cs.expires = now.Add(time.Duration(p.ExpiresIn) * time.Second)
		default:
			httpauth.WriteError(w, r, s.Log, fmt.Errorf(`%w: give "username" and "password", or "api_key"`, relayauth.ErrInvalid))
			return
		}
		c := s.internal(r, me, http.MethodGet, "/auth/me", nil, cs.credential())
		err := json.Unmarshal(c.body.Bytes(), &cs.who)
		if c.status != http.StatusOK || err != nil {
			if cs.sessionID != "" {
				_ = s.Sessions.Revoke(r.Context(), cs.sessionID) // no console: no session left behind
			}
			c.copyTo(w)
			return
		}
		if old := s.cookieValue(r); old != "" {
			s.consoles.remove(old) // a second sign-in replaces the first
		}
		s.setConsoleCookie(w, s.consoles.add(cs, now), 0)
		s.Audit.Log(r.Context(), audit.Event{Action: "console.signin", Outcome: audit.Success,
			Actor: cs.who.Subject, ActorTenant: cs.who.Tenant, Method: cs.who.Method, Target: cs.who.SessionID})
		writeJSON(w, http.StatusOK, consoleAnswer{consoleWho: cs.who, CSRFToken: cs.csrf, Environment: s.Env})
	})
}

// handleConsoleWho tells a reloaded console page who is signed in, and
// its CSRF token: the one console request that needs no token, as it is
// where the page gets it. Only a page of this origin can read the answer.
func (s *server) handleConsoleWho() http.Handler {
	return s.consoleAdmit(false, func(w http.ResponseWriter, r *http.Request, cs *consoleSession, _ string) {
		writeJSON(w, http.StatusOK, consoleAnswer{consoleWho: cs.who, CSRFToken: cs.csrf, Environment: s.Env})
	})
}

// handleConsoleSignOut ends the console session and, for a password
// sign-in, the Relay Auth session behind it (through the logout handler).
// If the store cannot end it, the console stays signed in and says so.
func (s *server) handleConsoleSignOut(logout, refresh http.Handler) http.Handler {
	return s.consoleGuard(func(w http.ResponseWriter, r *http.Request, cs *consoleSession, cookie string) {
		if cs.apiKey == "" {
			cred, err := s.renew(r, cs, refresh)
			if err == nil {
				c := s.internal(r, logout, http.MethodPost, "/auth/logout", nil, cred)
				if c.status == http.StatusServiceUnavailable {
					httpauth.WriteError(w, r, s.Log, errConsoleSignOut)
					return
				}
			}
		}
		s.consoles.remove(cookie)
		s.setConsoleCookie(w, "", -1)
		s.Audit.Log(r.Context(), audit.Event{Action: "console.signout", Outcome: audit.Success,
			Actor: cs.who.Subject, ActorTenant: cs.who.Tenant, Method: cs.who.Method, Target: cs.who.SessionID})
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleConsoleAPI passes a console request to the API route it names,
// with the console session's credential in place of the browser's
// headers. A 401 from the API (the session or key was revoked or expired)
// ends the console session.
func (s *server) handleConsoleAPI(refresh http.Handler) http.Handler {
	return s.consoleGuard(func(w http.ResponseWriter, r *http.Request, cs *consoleSession, cookie string) {
		cred, err := s.renew(r, cs, refresh)
		if err != nil {
			s.consoles.remove(cookie)
			s.setConsoleCookie(w, "", -1)
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		in := r.Clone(r.Context())
		in.URL = &url.URL{Path: strings.TrimPrefix(r.URL.Path, "/console/api"), RawQuery: r.URL.RawQuery}
		in.RequestURI = in.URL.RequestURI()
		in.Header = consoleHeadersFor(r, cred)
		// Handler finds the route; ServeHTTP runs it with its path values.
		if _, pattern := s.consoleAPI.Handler(in); pattern == "" {
			httpauth.WriteError(w, r, s.Log, errConsoleRoute)
			return
		}
		s.consoleAPI.ServeHTTP(&consoleWriter{ResponseWriter: w, end: func() {
			s.consoles.remove(cookie)
			s.setConsoleCookie(w, "", -1)
		}}, in)
	})
}

// consoleMux holds the API routes of consoleProxied, from the route table.
func consoleMux(table []route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range table {
		if slices.Contains(consoleProxied, rt.pattern) {
			mux.Handle(rt.pattern, rt.handler)
		}
	}
	return mux
}

// consoleHeadersFor are the only headers a proxied request carries: the
// body's type, the browser's user agent, and the console's credential.
// The browser's cookies and any credential header it sent are dropped.
func consoleHeadersFor(r *http.Request, cred http.Header) http.Header {
	h := http.Header{}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		h.Set("User-Agent", ua)
	}
	for k, v := range cred {
		h[k] = v
	}
	return h
}

// credential is the header that authenticates cs toward the API.
func (cs *consoleSession) credential() http.Header {
	if cs.apiKey != "" {
		return http.Header{"X-Api-Key": {cs.apiKey.Reveal()}}
	}
	return http.Header{"Authorization": {"Bearer " + cs.access.Reveal()}}
}

// renew returns cs's credential, first trading its refresh token for a
// new pair (through the refresh handler) when the access token is about
// to expire. It runs under cs.mu, so one console never races itself into
// refresh-token reuse.
func (s *server) renew(r *http.Request, cs *consoleSession, refresh http.Handler) (http.Header, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := s.Now()
	if cs.apiKey != "" || now.Add(consoleRenewAhead).Before(cs.expires) {
		return cs.credential(), nil
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": cs.refresh.Reveal()})
	c := s.internal(r, refresh, http.MethodPost, "/auth/refresh", body, nil)
	switch {
	case c.status == http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%w: renewing the console's token", relayauth.ErrUnavailable)
	case c.status != http.StatusOK:
		return nil, errConsoleSignIn
	}
	var p tokenPair
	if err := json.Unmarshal(c.body.Bytes(), &p); err != nil {
		return nil, err
	}
	cs.access, cs.refresh = relayauth.Secret(p.AccessToken), relayauth.Secret(p.RefreshToken)
	cs.expires = now.Add(time.Duration(p.ExpiresIn) * time.Second)
	return cs.credential(), nil
}

// internal runs one API handler for the console, in r's context (its
// request id, client address and audit trail), and captures the answer.
func (s *server) internal(r *http.Request, h http.Handler, method, target string, body []byte, hdr http.Header) *captured {
	in := r.Clone(r.Context())
	in.Method = method
	in.URL = &url.URL{Path: target}
	in.RequestURI = target
	in.Header = consoleHeadersFor(r, hdr)
	in.Header.Del("Content-Type")
	in.Body, in.ContentLength = http.NoBody, 0
	if body != nil {
		in.Header.Set("Content-Type", "application/json")
		in.Body, in.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	c := &captured{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(c, in)
	return c
}

// captured is an answer held back: the console decides what the browser
// sees.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captured) WriteHeader(code int)        { c.status = code }

// copyTo passes the answer on as it was, but for the challenge header:
// the console's 401 is not a bearer challenge.
func (c *captured) copyTo(w http.ResponseWriter) {
	for k, v := range c.header {
		if k != "Www-Authenticate" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body.Bytes())
}

// consoleWriter ends the console session when the API answers 401.
type consoleWriter struct {
	http.ResponseWriter
	end   func()
	wrote bool
}

func (w *consoleWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if code == http.StatusUnauthorized {
			w.Header().Del("WWW-Authenticate")
			w.end()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *consoleWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
