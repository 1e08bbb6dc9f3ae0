package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/session"
)

// The bootstrap admin, the one account the server knows itself.
const (
	AdminUsername = "admin"
	AdminTenant   = "platform"
)

// errBadCredentials is the one answer to every failed login: unknown user
// and wrong password look the same (security.md item 17).
var errBadCredentials = fmt.Errorf("%w: invalid username or password", relayauth.ErrUnauthenticated)

const maxCredentialField = 1024

func (s *server) handleLogin() http.Handler {
	type request struct {
		Username string           `json:"username"`
		Password relayauth.Secret `json:"password"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if req.Username == "" || req.Password == "" || len(req.Username) > maxCredentialField || len(req.Password) > maxCredentialField {
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: username and password are required, at most %d bytes each", relayauth.ErrInvalid, maxCredentialField))
			return
		}
		want := s.Admin
		if req.Username != AdminUsername {
			want = nil // still hashes, so unknown users take as long
		}
		ok, err := s.Hasher.Check(r.Context(), want, req.Password)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if !ok {
			s.Log.InfoContext(r.Context(), "login failed", "ip", clientIP(r))
			httpauth.WriteError(w, r, s.Log, errBadCredentials)
			return
		}
		pair, err := s.startSession(r.Context(), r, grant{
			Subject: AdminUsername,
			Tenant:  AdminTenant,
			Roles:   []string{relayauth.RoleAdmin},
			Scopes:  relayauth.KnownScopes(),
		})
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Log.InfoContext(r.Context(), "login", "subject", AdminUsername, "tenant", AdminTenant, "session_id", pair.SessionID, "ip", clientIP(r))
		writeJSON(w, http.StatusOK, pair)
	})
}

var errRefreshInvalid = fmt.Errorf("%w: refresh token is invalid, expired or revoked", relayauth.ErrUnauthenticated)

func (s *server) handleRefresh() http.Handler {
	type request struct {
		RefreshToken relayauth.Secret `json:"refresh_token"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if req.RefreshToken == "" {
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: refresh_token is required", relayauth.ErrInvalid))
			return
		}
		c, err := s.Verifier.VerifyRefresh(req.RefreshToken.Reveal())
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		now := s.Now()
		sess, err := s.Sessions.Get(r.Context(), c.SessionID, now)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, refreshError(err))
			return
		}
		next := newID()
		sess, err = s.Sessions.Rotate(r.Context(), sess.ID, c.ID, next, now, s.sessionExpiry(sess.CreatedAt, now))
		if err != nil {
			if errors.Is(err, session.ErrRefreshReused) {
				s.Log.WarnContext(r.Context(), "refresh token reuse: session revoked",
					"subject", c.Subject, "tenant", c.Tenant, "session_id", c.SessionID, "ip", clientIP(r))
			}
			httpauth.WriteError(w, r, s.Log, refreshError(err))
			return
		}
		pair, err := s.issuePair(sess, now)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, pair)
	})
}

// refreshError keeps store outages as 503 and turns everything else about
// a dead session into one 401.
func refreshError(err error) error {
	switch {
	case errors.Is(err, relayauth.ErrUnavailable):
		return err
	case errors.Is(err, session.ErrRefreshReused):
		return err
	default:
		return errRefreshInvalid
	}
}

func (s *server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		if err := s.Sessions.Revoke(r.Context(), p.SessionID); err != nil && !errors.Is(err, session.ErrNotFound) {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Log.InfoContext(r.Context(), "logout", "subject", p.Subject, "tenant", p.Tenant, "session_id", p.SessionID)
		w.WriteHeader(http.StatusNoContent)
	})
}
