// Package httpauth is net/http middleware that authenticates callers and
// enforces roles, scopes and tenant isolation. Other Go services import it
// to protect their routes; the Relay Auth server itself uses it for every
// route, so there is one mechanism, not two.
//
// Every middleware is a func(http.Handler) http.Handler. The authenticated
// caller is read with relayauth.FromContext. Failures are
// application/problem+json; a 401 carries WWW-Authenticate as RFC 6750
// says (no error code when no credentials were sent, error="invalid_token"
// when they were bad), a missing scope is a 403 with
// error="insufficient_scope".
package httpauth
