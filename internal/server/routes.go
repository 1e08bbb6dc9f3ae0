package server

import (
	"net/http"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

// route is one entry of the API: a ServeMux pattern and its handler.
type route struct {
	pattern string // "METHOD /path/{wildcard}"
	handler http.Handler
}

// routeTable lists every route of the API in one place. The OpenAPI
// document is checked against it.
func (s *server) routeTable() []route {
	authed := s.auth.Authenticate
	scope := httpauth.RequireScope
	admin := func(h http.Handler) http.Handler { return authed(httpauth.RequireRole(relayauth.RoleAdmin)(h)) }

	routes := []route{
		{"POST /auth/login", s.handleLogin()},
		{"POST /auth/refresh", s.handleRefresh()},
		{"POST /auth/logout", s.auth.AuthenticateJWT(s.handleLogout())},
		{"GET /auth/me", authed(s.handleMe())},
		{"POST /auth/tokens", authed(scope(relayauth.ScopeTokensIssue)(s.handleIssueTokens()))},
		{"POST /auth/introspect", authed(scope(relayauth.ScopeTokensIntrospect)(s.handleIntrospect()))},
		{"GET /auth/sessions", authed(s.handleListSessions())},
		{"DELETE /auth/sessions/{id}", authed(s.handleDeleteSession())},
		{"POST /auth/sessions/revoke", authed(httpauth.RequireRole(relayauth.RoleAdmin, relayauth.RoleTenantAdmin)(s.handleMassRevoke()))},
		{"POST /auth/api-keys", authed(scope(relayauth.ScopeAPIKeysWrite)(s.handleCreateAPIKey()))},
		{"GET /auth/api-keys", authed(scope(relayauth.ScopeAPIKeysRead)(s.handleListAPIKeys()))},
		{"GET /auth/api-keys/{id}", authed(scope(relayauth.ScopeAPIKeysRead)(s.handleGetAPIKey()))},
		{"POST /auth/api-keys/{id}/rotate", authed(scope(relayauth.ScopeAPIKeysWrite)(s.handleRotateAPIKey()))},
		{"DELETE /auth/api-keys/{id}", authed(scope(relayauth.ScopeAPIKeysWrite)(s.handleRevokeAPIKey()))},
		{"GET /.well-known/jwks.json", s.handleJWKS()},
		{"GET /admin/health", admin(s.handleAdminHealth())},
		{"GET /admin/activity", admin(s.handleAdminActivity())},
		{"GET /admin/migrations", admin(s.handleListMigrations())},
		{"POST /admin/debug", admin(s.handleAdminDebug())},
		{"POST /admin/migrations/{name}", admin(s.handleMigration())},
		// Demo principals exist outside production only; the guard asks
		// on every request, so even a route registered by mistake cannot
		// serve.
		{"POST /demo/login", httpauth.Enabled(s.demoEnabled)(s.handleDemoLogin())},
		{"GET /healthz", s.handleHealthz()},
		{"GET /readyz", s.handleReadyz()},
	}
	// Forward auth answers every method a gateway may ask with, on the
	// bare path and with the original path after it (Envoy's path_prefix).
	forward := authed(s.handleForward())
	for _, m := range forwardMethods {
		routes = append(routes, route{m + " " + forwardPath, forward}, route{m + " " + forwardPath + "/{path...}", forward})
	}
	if s.Console {
		// The console (console.go): its page and the API behind its own
		// session cookie. It reaches the API's routes through the same
		// handlers as any client, so the API's rules apply unchanged.
		refresh := s.handleRefresh()
		routes = append(routes,
			route{"GET /console", http.RedirectHandler("/console/", http.StatusPermanentRedirect)},
			route{"GET /console/{$}", consoleHeaders(s.handleConsoleAsset())},
			route{"GET /console/{file}", consoleHeaders(s.handleConsoleAsset())},
			route{"POST /console/api/session", consoleHeaders(s.handleConsoleSignIn(s.handleLogin(), authed(s.handleMe())))},
			route{"GET /console/api/session", consoleHeaders(s.handleConsoleWho())},
			route{"DELETE /console/api/session", consoleHeaders(s.handleConsoleSignOut(s.auth.AuthenticateJWT(s.handleLogout()), refresh))},
		)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			routes = append(routes, route{m + " /console/api/{path...}", consoleHeaders(s.handleConsoleAPI(refresh))})
		}
	}
	if s.MetricsHandler != nil {
		routes = append(routes, route{"GET /metrics", s.MetricsHandler})
	}
	return routes
}

func (s *server) routes(mux *http.ServeMux) {
	table := s.routeTable()
	for _, r := range table {
		mux.Handle(r.pattern, r.handler)
	}
	s.consoleAPI = consoleMux(table)
	mux.Handle("/", s.handleNotFound())
}
