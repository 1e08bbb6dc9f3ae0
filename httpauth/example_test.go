package httpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/token"
)

// A tenant-scoped service: every route needs a valid token whose session
// is live, /tenants/{tenant}/... only for that tenant (others get a 404),
// and writes need the orders:write scope. In production the keys come
// from Relay Auth's JWKS or shared secret and the sessions from its Redis
// (session/redisstore); here both are local so the example runs alone.
func Example() {
	keys, sessions, mint := demoAuthority()

	auth := httpauth.NewAuthenticator(token.NewVerifier(keys, "https://auth.example", "orders"), sessions)
	tenant := httpauth.RequireTenant(httpauth.TenantFromPath("tenant"))
	mux := http.NewServeMux()
	mux.Handle("GET /tenants/{tenant}/orders", auth.Authenticate(tenant(http.HandlerFunc(listOrders))))
	mux.Handle("POST /tenants/{tenant}/orders", auth.Authenticate(tenant(
		httpauth.RequireScope("orders:write")(http.HandlerFunc(listOrders)))))

	ann := mint("ann", "acme", "orders:read")
	for _, req := range []struct{ method, path, token string }{
		{"GET", "/tenants/acme/orders", ann},
		{"GET", "/tenants/globex/orders", ann},
		{"POST", "/tenants/acme/orders", ann},
		{"GET", "/tenants/acme/orders", ""},
	} {
		r := httptest.NewRequest(req.method, req.path, nil)
		if req.token != "" {
			r.Header.Set("Authorization", "Bearer "+req.token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(req.method, req.path, w.Code)
	}
	// Output:
	// GET /tenants/acme/orders 200
	// GET /tenants/globex/orders 404
	// POST /tenants/acme/orders 403
	// GET /tenants/acme/orders 401
}

func listOrders(w http.ResponseWriter, r *http.Request) {
	p, _ := relayauth.FromContext(r.Context())
	fmt.Fprintf(w, "orders of %s for %s\n", p.Tenant, p.Subject)
}

// demoAuthority stands in for a Relay Auth server: a key set, a session
// store, and a function that logs a user in.
func demoAuthority() (*token.KeySet, session.Store, func(sub, tenant string, scopes ...string) string) {
	key, _ := token.GenerateKey(token.EdDSA)
	keys, _ := token.NewKeySet(key)
	sessions := session.NewMemoryStore()
	issuer := token.NewIssuer(keys, "https://auth.example", []string{"orders"})
	mint := func(sub, tenant string, scopes ...string) string {
		now := time.Now()
		id := "session-of-" + sub
		_ = sessions.Create(context.Background(), session.Session{ID: id, Subject: sub, Tenant: tenant,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), RefreshID: "r-" + id})
		tok, _ := issuer.Issue(token.Claims{Subject: sub, Tenant: tenant, SessionID: id, ID: "t-" + id,
			Type: token.Access, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix(), Scopes: scopes})
		return tok
	}
	return keys, sessions, mint
}
