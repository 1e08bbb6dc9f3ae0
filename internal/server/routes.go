package server

import (
	"net/http"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

// routes lists every route of the API in one place.
func (s *server) routes(mux *http.ServeMux) {
	authed := s.auth.Authenticate
	scope := httpauth.RequireScope

	mux.Handle("POST /auth/login", s.handleLogin())
	mux.Handle("POST /auth/refresh", s.handleRefresh())
	mux.Handle("POST /auth/logout", authed(s.handleLogout()))
	mux.Handle("GET /auth/me", authed(s.handleMe()))
	mux.Handle("POST /auth/tokens", authed(scope(relayauth.ScopeTokensIssue)(s.handleIssueTokens())))
	mux.Handle("POST /auth/introspect", authed(scope(relayauth.ScopeTokensIntrospect)(s.handleIntrospect())))
	mux.Handle("GET /auth/sessions", authed(s.handleListSessions()))
	mux.Handle("DELETE /auth/sessions/{id}", authed(s.handleDeleteSession()))
	mux.Handle("POST /auth/sessions/revoke", authed(s.handleMassRevoke()))
	mux.Handle("GET /.well-known/jwks.json", s.handleJWKS())
	admin := func(h http.Handler) http.Handler { return authed(httpauth.RequireRole(relayauth.RoleAdmin)(h)) }
	mux.Handle("GET /admin/health", admin(s.handleAdminHealth()))
	mux.Handle("POST /admin/debug", admin(s.handleAdminDebug()))
	// Demo principals exist outside production only; the guard asks on
	// every request, so even a route registered by mistake cannot serve.
	mux.Handle("POST /demo/login", httpauth.Enabled(s.demoEnabled)(s.handleDemoLogin()))

	if s.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.MetricsHandler)
	}
	mux.Handle("GET /healthz", s.handleHealthz())
	mux.Handle("GET /readyz", s.handleReadyz())
	mux.Handle("/", s.handleNotFound())
}
