package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/metrics"
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
		account, client := strings.ToLower(req.Username), clientIP(r)
		event := audit.Event{Action: "login", Actor: req.Username, Method: "password"}
		// Throttled before hashing: a locked account refuses even the right
		// password, and costs no hash.
		if wait, ok := s.Throttle.Allow(account, client); !ok {
			event.Outcome, event.Reason = audit.Failure, "throttled"
			s.Audit.Log(r.Context(), event)
			s.loginFailed(metrics.LoginThrottled)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: too many failed logins; retry later", relayauth.ErrThrottled))
			return
		}
		want := s.Admin
		if req.Username != AdminUsername {
			want = nil // still hashes, so unknown users take as long
		}
		ctx, cancel := context.WithTimeout(r.Context(), hashWait)
		ok, err := s.Hasher.Check(ctx, want, req.Password)
		cancel()
		if err != nil {
			s.Metrics.Login(metrics.LoginError)
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if !ok {
			s.Throttle.Failure(account, client)
			event.Outcome, event.Reason = audit.Failure, "bad credentials"
			s.Audit.Log(r.Context(), event)
			s.loginFailed(metrics.LoginBadCredentials)
			httpauth.WriteError(w, r, s.Log, errBadCredentials)
			return
		}
		s.Throttle.Success(account)
		pair, err := s.startSession(r.Context(), r, grant{
			Subject: AdminUsername,
			Tenant:  AdminTenant,
			Roles:   []string{relayauth.RoleAdmin},
			Scopes:  relayauth.KnownScopes(),
		})
		if err != nil {
			s.Metrics.Login(metrics.LoginError)
			s.storeError(err, metrics.StoreCreate)
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Metrics.Login(metrics.LoginSuccess)
		s.activity.add(s.Now(), activityLogin, 1)
		event.Outcome, event.ActorTenant, event.Target = audit.Success, AdminTenant, pair.SessionID
		s.Audit.Log(r.Context(), event)
		writeJSON(w, http.StatusOK, pair)
	})
}

// hashWait bounds how long a login waits for a free password-hashing
// slot before it is answered 503: a flood queues briefly, never forever.
const hashWait = 2 * time.Second

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
			s.Metrics.Refresh(metrics.RefreshInvalid)
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		now := s.Now()
		sess, err := s.Sessions.Get(r.Context(), c.SessionID, now)
		if err != nil {
			s.refreshFailed(err, metrics.StoreGet)
			httpauth.WriteError(w, r, s.Log, refreshError(err))
			return
		}
		next := newID()
		sess, err = s.Sessions.Rotate(r.Context(), sess.ID, c.ID, next, now, s.sessionExpiry(sess.CreatedAt, now))
		if err != nil {
			reason := "invalid"
			if errors.Is(err, session.ErrRefreshReused) {
				reason = "refresh token reuse: session revoked"
			}
			s.Audit.Log(r.Context(), audit.Event{Action: "token.refresh", Outcome: audit.Failure,
				Actor: c.Subject, ActorTenant: c.Tenant, Target: c.SessionID, Reason: reason})
			s.refreshFailed(err, metrics.StoreRotate)
			httpauth.WriteError(w, r, s.Log, refreshError(err))
			return
		}
		pair, err := s.issuePair(sess, now)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Metrics.Refresh(metrics.RefreshSuccess)
		s.Audit.Log(r.Context(), audit.Event{Action: "token.refresh", Outcome: audit.Success,
			Actor: c.Subject, ActorTenant: c.Tenant, Target: c.SessionID})
		writeJSON(w, http.StatusOK, pair)
	})
}

// refreshFailed records why a refresh failed.
func (s *server) refreshFailed(err error, op string) {
	switch {
	case errors.Is(err, relayauth.ErrUnavailable):
		s.Metrics.Refresh(metrics.RefreshUnavailable)
		s.storeError(err, op)
	case errors.Is(err, session.ErrRefreshReused):
		s.Metrics.Refresh(metrics.RefreshReuseDetected)
		s.revoked(metrics.ScopeSession, 1)
	default:
		s.Metrics.Refresh(metrics.RefreshInvalid)
	}
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
			s.storeError(err, metrics.StoreRevoke)
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.revoked(metrics.ScopeSession, 1)
		s.Audit.Log(r.Context(), audit.Event{Action: "logout", Outcome: audit.Success,
			Actor: p.Subject, ActorTenant: p.Tenant, Target: p.SessionID})
		w.WriteHeader(http.StatusNoContent)
	})
}
