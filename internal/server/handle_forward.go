package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

// Forward auth: the endpoint a gateway asks before it lets a request
// through to a service (nginx auth_request, Traefik ForwardAuth, Envoy
// ext_authz in HTTP service mode). The credential is read exactly as
// Authenticate reads it; what the request must hold comes from the
// gateway's own configuration (the auth URL's query); a yes carries the
// identity for the upstream in X-Relay-* headers. Headers of that name in
// the request are never read: a client may have sent them. The one
// X-Relay-* request header read, X-Relay-Require, only adds requirements.

// forwardPath is the endpoint; "forwardPath/<original path>" is the form
// Envoy's path_prefix produces.
const forwardPath = "/auth/forward"

// forwardMethods: gateways ask with GET (nginx, Traefik) or with the
// original request's method (Envoy). HEAD is served by the GET routes.
var forwardMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// The identity headers of a yes, always all of them, possibly empty.
// With Cache-Control they are the whole of the answer's header map: eight
// entries, which Go's map keeps in one group. A ninth makes net/http grow
// the map and clone it at WriteHeader at twice the cost and seven times
// the garbage (see the README's load section; BenchmarkForward counts the
// allocations, wantIdentity the headers). Hence no X-Relay-Expires-At (the
// max-age is already bounded by the expiry) and, on a yes only, no
// X-Request-Id (the gateway's own id, when it sends one, is what the
// decision is logged under) and no nosniff (there is no body).
const (
	hdrSubject   = "X-Relay-Subject"
	hdrTenant    = "X-Relay-Tenant"
	hdrRoles     = "X-Relay-Roles"  // space-separated
	hdrScopes    = "X-Relay-Scopes" // space-separated
	hdrSessionID = "X-Relay-Session-Id"
	hdrMethod    = "X-Relay-Auth-Method"
	hdrMaxAge    = "X-Relay-Cache-Max-Age" // whole seconds the answer may be reused: min(REVOCATION_SLA, expiry)
)

// identityHeaders lists them in forwardAnswer's order.
var identityHeaders = [...]string{hdrSubject, hdrTenant, hdrRoles, hdrScopes, hdrSessionID, hdrMethod, hdrMaxAge}

// hdrRequire carries the requirements when the gateway cannot put them
// in the auth URL's query: Envoy's ext_authz HTTP service appends the
// original path to a fixed prefix, but sets headers of its own on the
// check request (headers_to_add). A requirement can only refuse, so a
// client who sends this header through a gateway that passes it on can
// only refuse itself; and a rule given both ways is a 400.
const hdrRequire = "X-Relay-Require"

// maxOriginalURI bounds the original request's URI (nginx's default
// large_client_header_buffers is 8k).
const maxOriginalURI = 8 << 10

// forwardRule is what a request must hold, from the auth URL's query:
//
//	roles=a,b          one of these roles (403)
//	scopes=a,b         every one of these scopes; admins hold all (403, insufficient_scope)
//	tenant=acme        tenant acme; admins pass (404)
//	tenant_path=/tenants/{tenant}
//	                   the tenant is the original path's segment where {tenant} stands;
//	                   a path that does not match the template is a 404
//
// Anything else — an unknown name, a name twice, an empty value — is a
// 400: a typo in a gateway's configuration must refuse, not allow.
type forwardRule struct {
	roles, scopes []string
	tenant        string
	// tenantPath holds the template's segments, tenantAt the index of
	// {tenant} among them; nil: no tenant_path.
	tenantPath []string
	tenantAt   int
}

// tenantPlaceholder stands for the tenant in a tenant_path template.
const tenantPlaceholder = "{tenant}"

func forwardInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: forward auth: "+format, append([]any{relayauth.ErrInvalid}, args...)...)
}

// ruleCache keeps the rules parsed from requirement strings. A gateway
// sends the same few on every request (one per protected location), so
// each is parsed once; past maxCachedRules strings (a client's own
// X-Relay-Require on a misconfigured gateway, say) the rest are parsed
// every time. Refused strings are never kept: their error is rebuilt.
type ruleCache struct {
	rules sync.Map // requirement string → *forwardRule, never modified
	n     atomic.Int32
}

const maxCachedRules = 1024

func (c *ruleCache) parse(raw string) (*forwardRule, error) {
	if v, ok := c.rules.Load(raw); ok {
		return v.(*forwardRule), nil
	}
	rule, err := parseForwardRule(raw)
	if err != nil {
		return nil, err
	}
	if c.n.Load() < maxCachedRules {
		if _, loaded := c.rules.LoadOrStore(raw, &rule); !loaded {
			c.n.Add(1)
		}
	}
	return &rule, nil
}

// parseForwardRule reads the requirements of a forward-auth URL's query.
func parseForwardRule(rawQuery string) (forwardRule, error) {
	var rule forwardRule
	if rawQuery == "" {
		return rule, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return rule, forwardInvalid("malformed query")
	}
	for name, values := range q {
		if len(values) != 1 {
			return rule, forwardInvalid("requirement %q given %d times", truncate(name, 64), len(values))
		}
		v := values[0]
		if v == "" {
			return rule, forwardInvalid("requirement %q is empty", truncate(name, 64))
		}
		switch name {
		case "roles":
			rule.roles, err = nameList(name, v)
		case "scopes":
			rule.scopes, err = nameList(name, v)
		case "tenant":
			if !namePattern.MatchString(v) {
				err = forwardInvalid("tenant must match %s", namePattern)
			}
			rule.tenant = v
		case "tenant_path":
			rule.tenantPath, rule.tenantAt, err = parseTenantTemplate(v)
		default:
			err = forwardInvalid("unknown requirement %q (want roles, scopes, tenant or tenant_path)", truncate(name, 64))
		}
		if err != nil {
			return forwardRule{}, err
		}
	}
	if rule.tenant != "" && rule.tenantPath != nil {
		return forwardRule{}, forwardInvalid("tenant and tenant_path are exclusive")
	}
	return rule, nil
}

// nameList splits a comma-separated list of roles or scopes.
func nameList(what, v string) ([]string, error) {
	names := strings.Split(v, ",")
	if len(names) > maxGrantList {
		return nil, forwardInvalid("at most %d %s", maxGrantList, what)
	}
	for _, n := range names {
		if !namePattern.MatchString(n) {
			return nil, forwardInvalid("%s must be a comma-separated list of names matching %s", what, namePattern)
		}
	}
	return names, nil
}

// parseTenantTemplate reads "/tenants/{tenant}[/...]": literal segments
// and exactly one {tenant}.
func parseTenantTemplate(v string) ([]string, int, error) {
	bad := forwardInvalid("tenant_path must look like /tenants/{tenant}: literal segments and one %s", tenantPlaceholder)
	if !strings.HasPrefix(v, "/") || len(v) > 256 {
		return nil, 0, bad
	}
	segs := strings.Split(strings.TrimSuffix(v[1:], "/"), "/")
	at := -1
	for i, seg := range segs {
		switch {
		case seg == tenantPlaceholder && at < 0:
			at = i
		case seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "{}%\\?#"):
			return nil, 0, bad
		}
	}
	if at < 0 {
		return nil, 0, bad
	}
	return segs, at, nil
}

// originalURI is the request the gateway asks about, as its request-URI
// (escaped path and query): from X-Original-URI (nginx), X-Forwarded-Uri
// (Traefik) or the path after /auth/forward/ with the query (Envoy). More
// than one that disagree is a 400: one of them is a client's. suffix
// reports that the URI came from the path, so that the query is the
// original request's, not requirements. "" when no source gave one.
func originalURI(r *http.Request) (uri string, suffix bool, err error) {
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), forwardPath); ok && rest != "" {
		uri, suffix = rest, true
		if r.URL.RawQuery != "" {
			uri += "?" + r.URL.RawQuery
		}
	}
	for _, name := range [...]string{"X-Original-Uri", "X-Forwarded-Uri"} {
		values := r.Header[name]
		switch {
		case len(values) == 0 || (len(values) == 1 && values[0] == ""):
			continue
		case len(values) > 1:
			return "", false, forwardInvalid("more than one %s header", name)
		case uri != "" && values[0] != uri:
			return "", false, forwardInvalid("the original request is given twice, differently")
		}
		uri = values[0]
	}
	if uri == "" {
		return "", suffix, nil
	}
	if len(uri) > maxOriginalURI || uri[0] != '/' {
		return "", false, forwardInvalid("the original request-URI must be an absolute path of at most %d bytes", maxOriginalURI)
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return "", false, forwardInvalid("the original request-URI holds a byte a request-URI cannot")
		}
	}
	_, query, _ := strings.Cut(uri, "?")
	if err := httpauth.CheckQuery(query); err != nil {
		return "", false, err
	}
	return uri, suffix, nil
}

// errOtherTenant: the request names another tenant's object, or none. It
// does not exist for the caller.
var errOtherTenant = fmt.Errorf("%w: no such tenant object", relayauth.ErrNotFound)

// tenantOf reads the tenant from the original path by the rule's
// template. Paths a service could read differently from us (encoded
// slashes or backslashes, dot or empty segments) are a 400; a path that
// does not match the template is a 404.
func (rule *forwardRule) tenantOf(uri string) (string, error) {
	path, _, _ := strings.Cut(uri, "?")
	if strings.ContainsRune(path, '\\') || containsFold(path, "%2f") || containsFold(path, "%5c") {
		return "", forwardInvalid("the original path holds an encoded slash or a backslash")
	}
	segs := strings.Split(path[1:], "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		switch {
		case err != nil:
			return "", forwardInvalid("the original path is not properly escaped")
		case dec == "." || dec == "..":
			return "", forwardInvalid("the original path holds a dot segment")
		case dec == "" && i != len(segs)-1:
			return "", forwardInvalid("the original path holds an empty segment")
		}
		segs[i] = dec
	}
	if len(segs) < len(rule.tenantPath) {
		return "", errOtherTenant
	}
	for i, lit := range rule.tenantPath {
		if i != rule.tenantAt && segs[i] != lit {
			return "", errOtherTenant
		}
	}
	return segs[rule.tenantAt], nil
}

// containsFold reports whether s contains the ASCII string sub in any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// check applies the rule to p: the tenant first, so that another
// tenant's object is a 404 whatever the caller holds.
func (rule *forwardRule) check(p *relayauth.Principal, uri string) error {
	tenant := rule.tenant
	if rule.tenantPath != nil {
		if uri == "" {
			return forwardInvalid("tenant_path needs the original request (X-Original-URI or X-Forwarded-Uri)")
		}
		var err error
		if tenant, err = rule.tenantOf(uri); err != nil {
			return err
		}
	}
	if (rule.tenant != "" || rule.tenantPath != nil) && (tenant == "" || (!p.IsAdmin() && tenant != p.Tenant)) {
		return errOtherTenant
	}
	if len(rule.roles) > 0 {
		held := false
		for _, role := range rule.roles {
			held = held || p.HasRole(role)
		}
		if !held {
			return fmt.Errorf("%w: one of roles %q required", relayauth.ErrForbidden, rule.roles)
		}
	}
	for _, scope := range rule.scopes {
		if !p.HasScope(scope) {
			return fmt.Errorf("%w: scope %q required", httpauth.ErrInsufficientScope, scope)
		}
	}
	return nil
}

// forwardRequirements returns the requirements of a forward-auth request,
// in the query's syntax: from the auth URL's query, unless it is the
// original request's (suffix), or from the X-Relay-Require header.
func forwardRequirements(r *http.Request, suffix bool) (string, error) {
	query := r.URL.RawQuery
	if suffix {
		query = ""
	}
	values := r.Header[hdrRequire]
	switch {
	case len(values) == 0:
		return query, nil
	case len(values) > 1:
		return "", forwardInvalid("more than one %s header", hdrRequire)
	case query != "":
		return "", forwardInvalid("requirements both in the query and in %s", hdrRequire)
	}
	return values[0], nil
}

// forwardAnswer backs the identity headers' value slices: one allocation
// for all of them.
type forwardAnswer [len(identityHeaders)]string

func (s *server) handleForward() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		uri, suffix, err := originalURI(r)
		if err != nil {
			httpauth.Refuse(w, r, s.Log, p, err)
			return
		}
		raw, err := forwardRequirements(r, suffix)
		if err != nil {
			httpauth.Refuse(w, r, s.Log, p, err)
			return
		}
		rule, err := s.forwardRules.parse(raw)
		if err != nil {
			httpauth.Refuse(w, r, s.Log, p, err)
			return
		}
		if err := rule.check(p, uri); err != nil {
			httpauth.Refuse(w, r, s.Log, p, err)
			return
		}
		s.writeIdentity(w, p)
	})
}

// writeIdentity answers yes for p: 200, no body, the identity headers.
func (s *server) writeIdentity(w http.ResponseWriter, p *relayauth.Principal) {
	maxAge := s.RevocationSLA
	if !p.ExpiresAt.IsZero() {
		maxAge = min(maxAge, p.ExpiresAt.Sub(s.Now()))
	}
	a := &forwardAnswer{
		p.Subject, p.Tenant, strings.Join(p.Roles, " "), strings.Join(p.Scopes, " "),
		p.SessionID, p.Method, strconv.FormatInt(int64(max(maxAge, 0)/time.Second), 10),
	}
	h := w.Header()
	// Set by outer for every answer; not for this one (see identityHeaders).
	delete(h, hdrNoSniff)
	delete(h, hdrRequestID)
	for i, name := range identityHeaders {
		h[name] = a[i : i+1 : i+1]
	}
	w.WriteHeader(http.StatusOK)
}
