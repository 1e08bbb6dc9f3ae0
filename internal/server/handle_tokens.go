package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/token"
)

type principalJSON struct {
	Subject   string   `json:"subject"`
	Tenant    string   `json:"tenant"`
	Roles     []string `json:"roles"`
	Scopes    []string `json:"scopes"`
	SessionID string   `json:"session_id,omitempty"`
	Method    string   `json:"method"`
}

func (s *server) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		writeJSON(w, http.StatusOK, principalJSON{
			Subject:   p.Subject,
			Tenant:    p.Tenant,
			Roles:     nonNil(p.Roles),
			Scopes:    nonNil(p.Scopes),
			SessionID: p.SessionID,
			Method:    p.Method,
		})
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Names of subjects, tenants, roles and scopes: printable, no spaces (a
// scope claim is space-separated), bounded.
var (
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$`)
	maxGrantList = 32
)

// checkGrant validates a token or key request and enforces that callers
// grant no more than they hold: a platform admin grants anything; anyone
// else grants only in its own tenant, and only roles and scopes it holds
// itself, its services' "resource:action" scopes included. Otherwise a
// holder of tokens:issue or api_keys:write could mint its way into every
// RequireScope of its tenant's services.
func checkGrant(caller *relayauth.Principal, g grant) error {
	if err := validGrant(g); err != nil {
		return err
	}
	if caller.IsAdmin() {
		return nil
	}
	if g.Tenant != caller.Tenant {
		return fmt.Errorf("%w: the caller may act only in its own tenant", relayauth.ErrForbidden)
	}
	for _, role := range g.Roles {
		if !caller.HasRole(role) {
			return fmt.Errorf("%w: the caller may not grant role %q it does not hold", relayauth.ErrForbidden, role)
		}
	}
	for _, scope := range g.Scopes {
		if !caller.HasScope(scope) {
			return fmt.Errorf("%w: the caller may not grant scope %q it does not hold", relayauth.ErrForbidden, scope)
		}
	}
	return nil
}

// validGrant checks the shape of a grant.
func validGrant(g grant) error {
	if !namePattern.MatchString(g.Subject) {
		return fmt.Errorf("%w: subject must match %s", relayauth.ErrInvalid, namePattern)
	}
	if !namePattern.MatchString(g.Tenant) {
		return fmt.Errorf("%w: tenant must match %s", relayauth.ErrInvalid, namePattern)
	}
	if len(g.Roles) > maxGrantList || len(g.Scopes) > maxGrantList {
		return fmt.Errorf("%w: at most %d roles and %d scopes", relayauth.ErrInvalid, maxGrantList, maxGrantList)
	}
	for _, v := range append(slices.Clone(g.Roles), g.Scopes...) {
		if !namePattern.MatchString(v) {
			return fmt.Errorf("%w: role or scope %q must match %s", relayauth.ErrInvalid, truncate(v, 64), namePattern)
		}
	}
	return nil
}

func (s *server) handleIssueTokens() http.Handler {
	type request struct {
		Subject string   `json:"subject"`
		Tenant  string   `json:"tenant"`
		Roles   []string `json:"roles"`
		Scopes  []string `json:"scopes"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := relayauth.FromContext(r.Context())
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		g := grant{Subject: req.Subject, Tenant: req.Tenant, Roles: req.Roles, Scopes: req.Scopes}
		if err := checkGrant(caller, g); err != nil {
			s.Audit.Log(r.Context(), audit.Event{Action: "token.issue", Outcome: audit.Denied,
				Actor: caller.Subject, ActorTenant: caller.Tenant, Method: caller.Method, Subject: g.Subject, Tenant: g.Tenant, Reason: err.Error()})
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		pair, err := s.startSession(r.Context(), r, g)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Audit.Log(r.Context(), audit.Event{Action: "token.issue", Outcome: audit.Success,
			Actor: caller.Subject, ActorTenant: caller.Tenant, Method: caller.Method, Subject: g.Subject, Tenant: g.Tenant, Target: pair.SessionID})
		writeJSON(w, http.StatusOK, pair)
	})
}

// introspection is an RFC 7662 answer.
type introspection struct {
	Active    bool     `json:"active"`
	TokenType string   `json:"token_type,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Tenant    string   `json:"tenant,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

func (s *server) handleIntrospect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := relayauth.FromContext(r.Context())
		raw, err := decodeFormValue(w, r, "token")
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if raw == "" {
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: form field token is required", relayauth.ErrInvalid))
			return
		}
		c, kind, ok := s.introspect(r, raw)
		// Another tenant's token is not the caller's business: inactive.
		if !ok || (!caller.IsAdmin() && c.Tenant != caller.Tenant) {
			writeIntrospection(w, &introspection{Active: false})
			return
		}
		writeIntrospection(w, &introspection{
			Active: true, TokenType: kind, Scope: strings.Join(c.Scopes, " "), Subject: c.Subject,
			Audience: c.Audience, Issuer: c.Issuer, ExpiresAt: c.ExpiresAt, IssuedAt: c.IssuedAt,
			NotBefore: c.NotBefore, ID: c.ID, SessionID: c.SessionID, Tenant: c.Tenant, Roles: c.Roles,
		})
	})
}

// writeIntrospection answers x as writeJSON would, without reflection.
func writeIntrospection(w http.ResponseWriter, x *introspection) {
	b := jsonBuffers.Get().(*jsonBuffer)
	defer b.release()
	b.buf.Write(x.appendJSON(b.buf.AvailableBuffer()))
	writeBody(w, http.StatusOK, b.buf.Bytes())
}

// appendJSON appends x as json.Encoder writes it: the members in the
// order of the struct, the omitempty ones left out when empty, a newline.
// A field added to introspection must be added here too:
// TestIntrospectionJSON fails until it is.
func (x *introspection) appendJSON(b []byte) []byte {
	o := jsonObject{b: append(b, '{')}
	o.bool("active", x.Active)
	o.stringOmitEmpty("token_type", x.TokenType)
	o.stringOmitEmpty("scope", x.Scope)
	o.stringOmitEmpty("sub", x.Subject)
	o.stringsOmitEmpty("aud", x.Audience)
	o.stringOmitEmpty("iss", x.Issuer)
	o.int64OmitEmpty("exp", x.ExpiresAt)
	o.int64OmitEmpty("iat", x.IssuedAt)
	o.int64OmitEmpty("nbf", x.NotBefore)
	o.stringOmitEmpty("jti", x.ID)
	o.stringOmitEmpty("sid", x.SessionID)
	o.stringOmitEmpty("tenant", x.Tenant)
	o.stringsOmitEmpty("roles", x.Roles)
	return append(o.b, '}', '\n')
}

// introspect reports whether raw is a live access token, or the current
// refresh token of a live session.
func (s *server) introspect(r *http.Request, raw string) (token.Claims, string, bool) {
	if c, err := s.auth.VerifyAccess(r.Context(), raw); err == nil {
		return c, "access_token", true
	}
	c, err := s.Verifier.VerifyRefresh(raw)
	if err != nil {
		return token.Claims{}, "", false
	}
	sess, err := s.Sessions.Get(r.Context(), c.SessionID, s.Now())
	if err != nil || subtle.ConstantTimeCompare([]byte(sess.RefreshID), []byte(c.ID)) != 1 {
		return token.Claims{}, "", false
	}
	c.Roles, c.Scopes = sess.Roles, sess.Scopes // a refresh token carries them in its session
	return c, "refresh_token", true
}
