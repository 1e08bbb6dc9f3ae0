package server

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/metrics"
)

// apiKeyJSON is a key as the API shows it: masked, never the secret or
// its hash.
type apiKeyJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Tenant         string     `json:"tenant"`
	Scopes         []string   `json:"scopes"`
	Roles          []string   `json:"roles"`
	MaskedKey      string     `json:"masked_key"`
	CreatedAt      time.Time  `json:"created_at"`
	CreatedBy      string     `json:"created_by,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
	RotatedAt      *time.Time `json:"rotated_at,omitempty"`
	PrevValidUntil *time.Time `json:"previous_key_valid_until,omitempty"`
}

// apiKeyCreatedJSON adds the raw key: only in the create and rotate answers.
type apiKeyCreatedJSON struct {
	apiKeyJSON
	Key string `json:"key"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toAPIKeyJSON(k apikey.Key) apiKeyJSON {
	return apiKeyJSON{
		ID: k.ID, Name: k.Name, Tenant: k.Tenant, Scopes: nonNil(k.Scopes), Roles: nonNil(k.Roles),
		MaskedKey: k.MaskedKey, CreatedAt: k.CreatedAt.UTC(), CreatedBy: k.CreatedBy,
		ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt), LastUsedAt: optTime(k.LastUsedAt),
		RotatedAt: optTime(k.RotatedAt), PrevValidUntil: optTime(k.PrevValidUntil),
	}
}

// appScope is the shape of a scope that is not one of Relay Auth's own:
// "resource:action". Anything else is an unknown scope and refused.
var appScope = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}:[a-z0-9_.*-]{1,63}$`)

// checkKeyGrant applies checkGrant's rules to a key request and refuses
// scopes that are neither Relay Auth's nor of the resource:action shape.
func checkKeyGrant(caller *relayauth.Principal, tenant string, roles, scopes []string) error {
	for _, sc := range scopes {
		if !slices.Contains(relayauth.KnownScopes(), sc) && !appScope.MatchString(sc) {
			return fmt.Errorf("%w: unknown scope %q: use one of %v or resource:action", relayauth.ErrInvalid, truncate(sc, 64), relayauth.KnownScopes())
		}
	}
	return checkGrant(caller, grant{Subject: "api-key", Tenant: tenant, Roles: roles, Scopes: scopes})
}

func (s *server) keyEvent(p *relayauth.Principal, action string) audit.Event {
	return audit.Event{Action: action, Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method}
}

func (s *server) handleCreateAPIKey() http.Handler {
	type request struct {
		Name      string   `json:"name"`
		Tenant    string   `json:"tenant"`
		Scopes    []string `json:"scopes"`
		Roles     []string `json:"roles"`
		ExpiresIn *int64   `json:"expires_in"` // seconds; absent or 0: never
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if req.Tenant == "" && !p.IsAdmin() {
			req.Tenant = p.Tenant // a tenant's caller makes keys for its tenant
		}
		event := s.keyEvent(p, "apikey.create")
		event.Tenant = req.Tenant
		expiresIn, err := seconds("expires_in (0: never)", req.ExpiresIn, apikey.MaxExpiresIn)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if err := checkKeyGrant(p, req.Tenant, req.Roles, req.Scopes); err != nil {
			s.refuse(w, r, event, audit.Denied, err)
			return
		}
		k, raw, err := s.APIKeys.Create(r.Context(), apikey.CreateRequest{
			Name: req.Name, Tenant: req.Tenant, Scopes: req.Scopes, Roles: req.Roles,
			ExpiresIn: expiresIn, CreatedBy: p.Method + ":" + p.Subject,
		})
		if err != nil {
			s.refuse(w, r, event, audit.Failure, err)
			return
		}
		event.Outcome, event.Target = audit.Success, k.ID
		s.Audit.Log(r.Context(), event)
		s.Metrics.APIKeyOp(metrics.APIKeyCreate)
		writeJSON(w, http.StatusCreated, apiKeyCreatedJSON{apiKeyJSON: toAPIKeyJSON(k), Key: raw.Reveal()})
	})
}

// visibleKey returns the key with this id if the caller may see it: a
// platform admin any, anyone else only its own tenant's. Another tenant's
// key does not exist for the caller.
func (s *server) visibleKey(r *http.Request, p *relayauth.Principal, id string) (apikey.Key, error) {
	k, err := s.APIKeys.Get(r.Context(), id)
	if err == nil && !p.IsAdmin() && k.Tenant != p.Tenant {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, err
}

func (s *server) handleListAPIKeys() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		tenant := r.URL.Query().Get("tenant")
		out := []apiKeyJSON{}
		if p.IsAdmin() || tenant == "" || tenant == p.Tenant {
			if !p.IsAdmin() {
				tenant = p.Tenant
			}
			keys, err := s.APIKeys.List(r.Context(), tenant)
			if err != nil {
				httpauth.WriteError(w, r, s.Log, err)
				return
			}
			for _, k := range keys {
				out = append(out, toAPIKeyJSON(k))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
	})
}

func (s *server) handleGetAPIKey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		k, err := s.visibleKey(r, p, r.PathValue("id"))
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, toAPIKeyJSON(k))
	})
}

func (s *server) handleRotateAPIKey() http.Handler {
	type request struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		var req request
		if err := decodeOptionalJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		id := r.PathValue("id")
		event := s.keyEvent(p, "apikey.rotate")
		event.Target = id
		grace, err := seconds("grace_seconds", req.GraceSeconds, apikey.MaxRotationGrace)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if _, err := s.visibleKey(r, p, id); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		k, raw, err := s.APIKeys.Rotate(r.Context(), id, grace)
		if err != nil {
			s.refuse(w, r, event, audit.Failure, err)
			return
		}
		event.Outcome, event.Tenant = audit.Success, k.Tenant
		s.Audit.Log(r.Context(), event)
		s.Metrics.APIKeyOp(metrics.APIKeyRotate)
		writeJSON(w, http.StatusOK, apiKeyCreatedJSON{apiKeyJSON: toAPIKeyJSON(k), Key: raw.Reveal()})
	})
}

func (s *server) handleRevokeAPIKey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		id := r.PathValue("id")
		event := s.keyEvent(p, "apikey.revoke")
		event.Target = id
		k, err := s.visibleKey(r, p, id)
		if err == nil {
			err = s.APIKeys.Revoke(r.Context(), id)
		}
		if err != nil {
			if !errors.Is(err, relayauth.ErrNotFound) {
				event.Outcome, event.Reason = audit.Failure, err.Error()
				s.Audit.Log(r.Context(), event)
			}
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		event.Outcome, event.Tenant = audit.Success, k.Tenant
		s.Audit.Log(r.Context(), event)
		s.Metrics.APIKeyOp(metrics.APIKeyRevoke)
		w.WriteHeader(http.StatusNoContent)
	})
}
