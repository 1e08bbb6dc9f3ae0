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
// (platform admins hold every scope). A missing scope is a 403. A scope
// no token could carry (empty, or with a space or control character: the
// scope claim is space-separated) is a wiring mistake, and panics here
// rather than denying every request later.
func RequireScope(scope string) func(http.Handler) http.Handler {
	mustName("RequireScope", "scope", scope)
	denied := fmt.Errorf("%w: scope %q required", ErrInsufficientScope, scope)
	return require(func(_ *http.Request, p *relayauth.Principal) error {
		if p.HasScope(scope) {
			return nil
		}
		return denied
	})
}

// RequireRole lets a request through only when its principal holds one of
// roles. A missing role is a 403. No roles at all, or a role no token
// could carry, is a wiring mistake, and panics here.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("httpauth: RequireRole needs at least one role")
	}
	for _, r := range roles {
		mustName("RequireRole", "role", r)
	}
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

// mustName panics unless name could be a role or scope in a token: not
// empty, at most 128 bytes, printable ASCII without spaces.
func mustName(fn, kind, name string) {
	ok := len(name) > 0 && len(name) <= 128
	for i := 0; ok && i < len(name); i++ {
		ok = name[i] > ' ' && name[i] < 0x7f
	}
	if !ok {
		panic(fmt.Sprintf("httpauth: %s: %s %q can never match a token's: want 1-128 printable ASCII characters without spaces", fn, kind, name))
	}
}

// Refuse refuses p's request with err, as the Require middleware do: the
// request's Observer (metrics, audit) is told, and err is written as a
// problem (see WriteError). For handlers that decide more than the
// Require middleware express, such as a forward-auth endpoint.
func Refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, p *relayauth.Principal, err error) {
	observe(r, Decision{Principal: p, Err: err})
	WriteError(w, r, log, err)
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
