// Package server is Relay Auth's HTTP API: the handlers of the contract in
// shared/docs/http-api.md, wired in routes.go, each a plain function of
// the dependencies it needs.
package server

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/internal/migrate"
	"github.com/relayauth/relayauth/internal/password"
	"github.com/relayauth/relayauth/internal/throttle"
	"github.com/relayauth/relayauth/metrics"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/token"
)

// Deps are what the server needs. All fields are required unless marked.
type Deps struct {
	Log      *slog.Logger
	Keys     *token.KeySet
	Issuer   *token.Issuer
	Verifier *token.Verifier
	Sessions session.Store
	// APIKeys manages API keys, which also authenticate as X-API-Key.
	APIKeys *apikey.Manager
	Hasher  *password.Hasher
	// Admin is the bootstrap admin's password hash (from ADMIN_PASSWORD).
	Admin *password.Hash
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Env is the deployment environment (config.Development, ...).
	Env string
	// Version is the build version shown in /admin/health.
	Version string
	// LogLevel is the level /admin/debug switches; nil disables the toggle.
	LogLevel *slog.LevelVar
	// DemoMocks enables POST /demo/login outside production only.
	DemoMocks bool
	// Migrations are the data migrations of /admin/migrations/{name}.
	Migrations migrate.Set
	// Console serves the operator console at /console/ (console.go).
	Console bool
	// Metrics records the auth_* metrics; nil switches them off.
	Metrics *metrics.Metrics
	// MetricsHandler serves /metrics; nil leaves the route out.
	MetricsHandler http.Handler
	// Audit receives the audit trail; audit.New(Log) when nil.
	Audit *audit.Logger
	// Throttle paces login attempts; throttle defaults when nil.
	Throttle *throttle.Limiter

	// Ready, when set, is asked by /readyz after the session store answers:
	// nil when this instance may serve, else why not (the clock guard).
	Ready func() error

	// RevocationSLA bounds how long a forward-auth answer may be reused
	// (X-Relay-Cache-Max-Age); DefaultRevocationSLA when zero.
	RevocationSLA time.Duration

	AccessTTL  time.Duration // access-token lifetime
	RefreshTTL time.Duration // idle timeout: a session unrefreshed this long ends
	SessionTTL time.Duration // absolute timeout
}

// DefaultRevocationSLA is Deps.RevocationSLA when unset: config's default.
const DefaultRevocationSLA = 5 * time.Second

// server holds the dependencies every handler closes over.
type server struct {
	Deps
	auth    *httpauth.Authenticator
	mux     *http.ServeMux
	started time.Time
	alg     string // the active signing algorithm, a metric label
	// observer is s.observe, made once: a method value allocates.
	observer httpauth.Observer
	// activity counts logins, failures and revocations per minute for
	// the console's chart.
	activity activity
	// consoles are the signed-in console sessions, and consoleAPI the
	// API routes the console reaches (console.go).
	consoles   *consoleSessions
	consoleAPI *http.ServeMux
	// forwardRules are the forward-auth requirements already parsed.
	forwardRules ruleCache
}

// New returns the HTTP handler of the whole API.
func New(d Deps) (http.Handler, error) {
	s, err := newServer(d)
	if err != nil {
		return nil, err
	}
	s.routes(s.mux)
	return s.outer(s.mux), nil
}

// newServer checks d, fills its defaults and builds the server, routes
// not yet registered.
func newServer(d Deps) (*server, error) {
	switch {
	case d.Log == nil, d.Keys == nil, d.Issuer == nil, d.Verifier == nil,
		d.Sessions == nil, d.APIKeys == nil, d.Hasher == nil, d.Admin == nil:
		return nil, errors.New("server: missing dependency")
	case d.AccessTTL <= 0 || d.RefreshTTL <= 0 || d.SessionTTL <= 0:
		return nil, errors.New("server: token lifetimes must be positive")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RevocationSLA <= 0 {
		d.RevocationSLA = DefaultRevocationSLA
	}
	if d.Audit == nil {
		d.Audit = audit.New(d.Log)
	}
	if d.Throttle == nil {
		d.Throttle = throttle.New(throttle.DefaultAccount, throttle.DefaultClient, throttle.WithClock(d.Now))
	}
	s := &server{Deps: d, started: d.Now()}
	s.observer = s.observe
	s.alg = string(d.Keys.Active().Alg())
	s.auth = httpauth.NewAuthenticator(d.Verifier, d.Sessions, httpauth.WithClock(d.Now), httpauth.WithLogger(d.Log),
		httpauth.WithVerifyTiming(func(d time.Duration) { s.Metrics.ObserveVerify(s.alg, d) }),
		httpauth.WithAPIKeys(d.APIKeys))
	s.mux = http.NewServeMux()
	s.consoles = newConsoleSessions(s.endConsole)
	return s, nil
}
