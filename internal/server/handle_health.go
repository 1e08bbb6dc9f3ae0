package server

import (
	"context"
	"net/http"
	"time"

	"github.com/relayauth/relayauth/httpauth"
)

// statusBody is the answer of /healthz and /readyz.
type statusBody struct {
	Status string `json:"status"`
}

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, statusBody{"ok"})
	})
}

// handleReadyz reports ready only when the session store answers and
// Deps.Ready, if any, has no objection.
func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Sessions.Ping(ctx); err != nil {
			httpauth.WriteProblem(w, http.StatusServiceUnavailable, "session store unreachable")
			return
		}
		if s.Ready != nil {
			if err := s.Ready(); err != nil {
				httpauth.WriteProblem(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		writeJSON(w, http.StatusOK, statusBody{"ready"})
	})
}

// handleJWKS publishes the public keys of asymmetric algorithms; an
// HS256-only deployment publishes an empty set.
func (s *server) handleJWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := s.Keys.JWKS()
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}
