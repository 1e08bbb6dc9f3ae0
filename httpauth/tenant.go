package httpauth

import (
	"fmt"
	"net/http"

	"github.com/relayauth/relayauth"
)

// errOtherTenant is what a cross-tenant request sees: the object does not
// exist for it (404), so existence does not leak.
var errOtherTenant = fmt.Errorf("%w: no such tenant object", relayauth.ErrNotFound)

// TenantFromPath reads the tenant from a ServeMux path wildcard, e.g.
// TenantFromPath("tenant") for "GET /tenants/{tenant}/orders".
func TenantFromPath(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.PathValue(name) }
}

// TenantFromHeader reads the tenant from a request header.
func TenantFromHeader(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.Header.Get(name) }
}

// RequireTenant lets a request through only when the tenant it names
// (read by tenant) is the principal's own; platform admins may name any.
// A mismatch, or no tenant at all, is a 404.
func RequireTenant(tenant func(*http.Request) string) func(http.Handler) http.Handler {
	return require(func(r *http.Request, p *relayauth.Principal) error {
		t := tenant(r)
		if t != "" && (p.IsAdmin() || t == p.Tenant) {
			return nil
		}
		return errOtherTenant
	})
}

// errNoRoute: a guarded route that is switched off does not exist.
var errNoRoute = fmt.Errorf("%w: no such route", relayauth.ErrNotFound)

// Enabled lets requests through only while on() reports true, and answers
// 404 otherwise, as if the route did not exist: for routes that must only
// exist outside production (demo and debug helpers). on is asked on every
// request, so a route registered by mistake still cannot serve.
func Enabled(on func() bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !on() {
				WriteError(w, r, nil, errNoRoute)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
