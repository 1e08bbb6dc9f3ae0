package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/metrics"
	"github.com/relayauth/relayauth/session"
)

type sessionJSON struct {
	ID         string    `json:"id"`
	Subject    string    `json:"subject"`
	Tenant     string    `json:"tenant"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

func toSessionJSON(s session.Session) sessionJSON {
	return sessionJSON{
		ID: s.ID, Subject: s.Subject, Tenant: s.Tenant,
		CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		IP: s.IP, UserAgent: s.UserAgent,
	}
}

// visibleFilter narrows a list request to what the caller may see: an
// admin everything, a tenant admin its tenant, anyone else its own
// sessions. ok is false when the request names what the caller may not
// see; that is answered as an empty list, never as a 403.
func visibleFilter(p *relayauth.Principal, subject, tenant string) (f session.Filter, ok bool) {
	switch {
	case p.IsAdmin():
		return session.Filter{Subject: subject, Tenant: tenant}, true
	case p.HasRole(relayauth.RoleTenantAdmin):
		return session.Filter{Subject: subject, Tenant: p.Tenant}, tenant == "" || tenant == p.Tenant
	default:
		ok = (tenant == "" || tenant == p.Tenant) && (subject == "" || subject == p.Subject)
		return session.Filter{Subject: p.Subject, Tenant: p.Tenant}, ok
	}
}

func (s *server) handleListSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		q := r.URL.Query()
		out := []sessionJSON{}
		if f, ok := visibleFilter(p, q.Get("subject"), q.Get("tenant")); ok {
			list, err := s.Sessions.List(r.Context(), f, s.Now())
			if err != nil {
				httpauth.WriteError(w, r, s.Log, err)
				return
			}
			for _, sess := range list {
				out = append(out, toSessionJSON(sess))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	})
}

// canTouch reports whether p may see and revoke sess: its owner, an admin
// of its tenant, or a platform admin.
func canTouch(p *relayauth.Principal, sess *session.Session) bool {
	return p.CanAdministerTenant(sess.Tenant) || (p.Subject == sess.Subject && p.Tenant == sess.Tenant)
}

func (s *server) handleDeleteSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		id := r.PathValue("id")
		sess, err := s.Sessions.Get(r.Context(), id, s.Now())
		if err == nil && !canTouch(p, &sess) {
			err = session.ErrNotFound // another's session does not exist for this caller
		}
		if err == nil {
			err = s.Sessions.Revoke(r.Context(), id)
		}
		s.storeError(err, metrics.StoreRevoke)
		if err != nil {
			s.Audit.Log(r.Context(), audit.Event{Action: "session.revoke", Outcome: audit.Denied,
				Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method, Target: id, Reason: err.Error()})
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.revoked(metrics.ScopeSession, 1)
		s.Audit.Log(r.Context(), audit.Event{Action: "session.revoke", Outcome: audit.Success,
			Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method, Subject: sess.Subject, Tenant: sess.Tenant, Target: id})
		w.WriteHeader(http.StatusNoContent)
	})
}

var errRevokeScope = fmt.Errorf(`%w: give "all": true, a "tenant", or a "subject" with its "tenant"`, relayauth.ErrInvalid)

func (s *server) handleMassRevoke() http.Handler {
	type request struct {
		Subject string `json:"subject"`
		Tenant  string `json:"tenant"`
		All     bool   `json:"all"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if !p.IsAdmin() && p.HasRole(relayauth.RoleTenantAdmin) && req.Tenant == "" && !req.All {
			req.Tenant = p.Tenant // a tenant admin's scope defaults to its tenant
		}
		n, err := s.massRevoke(r, p, req.Subject, req.Tenant, req.All)
		s.storeError(err, metrics.StoreRevoke)
		if err != nil {
			s.Audit.Log(r.Context(), audit.Event{Action: "session.revoke_many", Outcome: audit.Denied,
				Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method, Subject: req.Subject, Tenant: req.Tenant, Reason: err.Error()})
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		target := metrics.ScopeSubject
		switch {
		case req.All:
			target = metrics.ScopeGlobal
		case req.Subject == "":
			target = metrics.ScopeTenant
		}
		s.revoked(target, n)
		s.Audit.Log(r.Context(), audit.Event{Action: "session.revoke_many", Outcome: audit.Success,
			Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method, Subject: req.Subject, Tenant: req.Tenant, Target: target, Count: n})
		writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	})
}

func (s *server) massRevoke(r *http.Request, p *relayauth.Principal, subject, tenant string, all bool) (int, error) {
	ctx, now := r.Context(), s.Now()
	switch {
	case all && (subject != "" || tenant != ""):
		return 0, errRevokeScope
	case all:
		if !p.IsAdmin() {
			return 0, fmt.Errorf("%w: only a platform admin revokes everything", relayauth.ErrForbidden)
		}
		return s.Sessions.RevokeAll(ctx, now)
	case tenant == "":
		return 0, errRevokeScope
	case !p.IsAdmin() && !p.HasRole(relayauth.RoleTenantAdmin):
		return 0, fmt.Errorf("%w: mass revocation needs the admin or tenant_admin role", relayauth.ErrForbidden)
	case !p.CanAdministerTenant(tenant):
		return 0, fmt.Errorf("%w: tenant", relayauth.ErrNotFound) // another tenant does not exist for this caller
	case subject != "":
		return s.Sessions.RevokeSubject(ctx, tenant, subject, now)
	default:
		return s.Sessions.RevokeTenant(ctx, tenant, now)
	}
}
