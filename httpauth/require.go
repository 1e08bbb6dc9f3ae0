package httpauth

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/relayauth/relayauth"
)

// errNoPrincipal: a Require* middleware ran without Authenticate before it.
// It fails closed as a 401.
var errNoPrincipal = fmt.Errorf("%w: route not behind Authenticate", relayauth.ErrUnauthenticated)

// RequireScope lets a request through only when its principal holds scope
// (platform admins hold every scope). A missing scope is a 403.
func RequireScope(scope string) func(http.Handler) http.Handler {
	denied := fmt.Errorf("%w: scope %q required", ErrInsufficientScope, scope)
	return require(func(_ *http.Request, p *relayauth.Principal) error {
		if p.HasScope(scope) {
			return nil
		}
		return denied
	})
}

// RequireRole lets a request through only when its principal holds one of
// roles. A missing role is a 403.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	denied := fmt.Errorf("%w: one of roles %q required", relayauth.ErrForbidden, roles)
	return require(func(_ *http.Request, p *relayauth.Principal) error {
		for _, r := range roles {
			if p.HasRole(r) {
				return nil
			}
		}
		return denied
	})
}

func require(check func(*http.Request, *relayauth.Principal) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := relayauth.FromContext(r.Context())
			if !ok {
				observe(r, Decision{Err: errNoPrincipal})
				WriteError(w, r, slog.Default(), errNoPrincipal)
				return
			}
			if err := check(r, p); err != nil {
				observe(r, Decision{Principal: p, Err: err})
				WriteError(w, r, slog.Default(), err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
