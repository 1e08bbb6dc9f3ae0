package relayauth

import (
	"context"
	"slices"
	"time"
)

// Roles known to Relay Auth.
const (
	// RoleAdmin is the platform administrator: every tenant, every scope.
	RoleAdmin = "admin"
	// RoleTenantAdmin administers its own tenant only.
	RoleTenantAdmin = "tenant_admin"
)

// Scopes known to Relay Auth.
const (
	ScopeTokensIssue      = "tokens:issue"
	ScopeTokensIntrospect = "tokens:introspect"
	ScopeAPIKeysRead      = "api_keys:read"
	ScopeAPIKeysWrite     = "api_keys:write"
	ScopeSessionsRevoke   = "sessions:revoke"
)

// KnownScopes lists every scope the server understands, in a stable order.
func KnownScopes() []string {
	return []string{ScopeTokensIssue, ScopeTokensIntrospect, ScopeAPIKeysRead, ScopeAPIKeysWrite, ScopeSessionsRevoke}
}

// KnownRoles lists every role the server understands, in a stable order.
func KnownRoles() []string { return []string{RoleAdmin, RoleTenantAdmin} }

// Authentication methods reported in Principal.Method.
const (
	MethodJWT    = "jwt"
	MethodAPIKey = "api_key"
)

// Principal is an authenticated caller.
type Principal struct {
	Subject   string
	Tenant    string
	Roles     []string
	Scopes    []string
	SessionID string // empty for API keys
	Method    string // MethodJWT or MethodAPIKey
	// ExpiresAt is when the credential stops being valid: the access
	// token's exp, or the API key's expiry (its grace deadline when the
	// previous secret was used). Zero: it does not expire.
	ExpiresAt time.Time
}

// HasRole reports whether p holds role.
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// IsAdmin reports whether p is a platform administrator.
func (p *Principal) IsAdmin() bool { return p.HasRole(RoleAdmin) }

// HasScope reports whether p may use scope. Platform admins hold every scope.
func (p *Principal) HasScope(scope string) bool {
	return p.IsAdmin() || slices.Contains(p.Scopes, scope)
}

// CanAdministerTenant reports whether p may manage objects of tenant:
// platform admins everywhere, tenant admins in their own tenant.
func (p *Principal) CanAdministerTenant(tenant string) bool {
	return p.IsAdmin() || (p.HasRole(RoleTenantAdmin) && p.Tenant == tenant)
}

type principalKey struct{}

// PrincipalContext is a context.Context carrying a Principal, which
// FromContext finds. NewContext allocates one; a middleware may instead
// embed one in a larger per-request allocation and set both fields (as
// httpauth does, to authenticate a request with one allocation).
type PrincipalContext struct {
	context.Context // the parent: required
	Principal       Principal
}

// Value returns the carried Principal for FromContext and asks the parent
// for any other key.
func (c *PrincipalContext) Value(key any) any {
	if key == (principalKey{}) {
		return &c.Principal
	}
	return c.Context.Value(key)
}

// NewContext returns a copy of ctx that carries a copy of p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return &PrincipalContext{Context: ctx, Principal: *p}
}

// FromContext returns the principal stored in ctx by NewContext, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
