package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/internal/migrate"
)

// Environment names, as config has them (the server does not import config).
const (
	envProduction  = "production"
	envDevelopment = "development"
)

// handleAdminHealth reports diagnostics for operators: the stores and
// their round-trip latency, the signing algorithm and key ids, the
// environment and the build. Never a secret.
func (s *server) handleAdminHealth() http.Handler {
	type store struct {
		Name      string  `json:"name"`
		Backend   string  `json:"backend"`
		OK        bool    `json:"ok"`
		LatencyMS float64 `json:"latency_ms"`
		Error     string  `json:"error,omitempty"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		err := s.Sessions.Ping(ctx)
		sessions := store{Name: "sessions", Backend: backendName(s.Sessions), OK: err == nil,
			LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			sessions.Error = err.Error()
		}
		var kids []string
		for _, k := range s.Keys.Keys() {
			kids = append(kids, k.ID())
		}
		active := s.Keys.Active()
		s.Audit.Log(r.Context(), audit.Event{Action: "admin.health", Outcome: audit.Success, Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method})
		body := map[string]any{
			"environment": s.Env,
			"version":     s.Version,
			"go":          runtime.Version(),
			"uptime_s":    int64(s.Now().Sub(s.started).Seconds()),
			"signing":     map[string]any{"alg": active.Alg(), "kid": active.ID(), "verification_kids": kids},
			"stores":      []store{sessions},
			"debug":       s.LogLevel != nil && s.LogLevel.Level() <= slog.LevelDebug,
		}
		// Live sessions where the store counts them cheaply (memory);
		// absent otherwise.
		if counter, ok := s.Sessions.(interface{ Len() int }); ok {
			body["live_sessions"] = counter.Len()
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// backendName names a store's backend from its type, for diagnostics.
func backendName(v any) string {
	if n, ok := v.(interface{ Backend() string }); ok {
		return n.Backend()
	}
	return fmt.Sprintf("%T", v)
}

// handleAdminDebug switches verbose diagnostics (debug logging, including
// every per-request authentication decision). Refused in production.
func (s *server) handleAdminDebug() http.Handler {
	type request struct {
		Enabled *bool `json:"enabled"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		event := audit.Event{Action: "admin.debug", Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method}
		if s.Env == envProduction || s.LogLevel == nil {
			event.Outcome, event.Reason = audit.Denied, "debug toggles are off in production"
			s.Audit.Log(r.Context(), event)
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: debug toggles do not exist in production", relayauth.ErrForbidden))
			return
		}
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		if req.Enabled == nil {
			httpauth.WriteError(w, r, s.Log, fmt.Errorf(`%w: "enabled" (true or false) is required`, relayauth.ErrInvalid))
			return
		}
		level := slog.LevelInfo
		if *req.Enabled {
			level = slog.LevelDebug
		}
		s.LogLevel.Set(level)
		event.Outcome, event.Target = audit.Success, fmt.Sprintf("debug=%t", *req.Enabled)
		s.Audit.Log(r.Context(), event)
		writeJSON(w, http.StatusOK, map[string]bool{"enabled": *req.Enabled})
	})
}

// demoEnabled: demo principals exist only when asked for and never in
// production, whatever else is configured.
func (s *server) demoEnabled() bool { return s.DemoMocks && s.Env != envProduction }

// handleDemoLogin mints a session for any demo principal without a
// password — for local demos of tenant isolation. See demoEnabled.
func (s *server) handleDemoLogin() http.Handler {
	type request struct {
		Subject string   `json:"subject"`
		Tenant  string   `json:"tenant"`
		Roles   []string `json:"roles"`
		Scopes  []string `json:"scopes"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		g := grant{Subject: req.Subject, Tenant: req.Tenant, Roles: req.Roles, Scopes: req.Scopes}
		if err := checkDemoGrant(g); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		pair, err := s.startSession(r.Context(), r, g)
		if err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		s.Audit.Log(r.Context(), audit.Event{Action: "demo.login", Outcome: audit.Success, Subject: g.Subject, Tenant: g.Tenant, Target: pair.SessionID})
		writeJSON(w, http.StatusOK, pair)
	})
}

// handleMigration runs a data migration. In production the body must
// confirm the migration by repeating its name: a mistyped curl must not
// move data.
func (s *server) handleMigration() http.Handler {
	type request struct {
		Confirm string `json:"confirm"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := relayauth.FromContext(r.Context())
		name := r.PathValue("name")
		var req request
		if err := decodeOptionalJSON(w, r, &req); err != nil {
			httpauth.WriteError(w, r, s.Log, err)
			return
		}
		event := audit.Event{Action: "admin.migration", Actor: p.Subject, ActorTenant: p.Tenant, Method: p.Method, Target: name}
		if _, known := s.Migrations[name]; !known {
			httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: %q (known: %v)", migrate.ErrUnknown, truncate(name, 64), s.Migrations.Names()))
			return
		}
		if s.Env == envProduction && req.Confirm != name {
			event.Outcome, event.Reason = audit.Denied, "not confirmed"
			s.Audit.Log(r.Context(), event)
			httpauth.WriteError(w, r, s.Log, fmt.Errorf(`%w: in production, confirm the migration with {"confirm": %q}`, relayauth.ErrInvalid, name))
			return
		}
		res, err := s.Migrations.Run(r.Context(), name)
		event.Count = res.Migrated
		if err != nil {
			s.refuse(w, r, event, audit.Failure, err)
			return
		}
		event.Outcome = audit.Success
		s.Audit.Log(r.Context(), event)
		writeJSON(w, http.StatusOK, res)
	})
}

// checkDemoGrant: the demo door grants any application role and scope,
// but none of Relay Auth's own: no admin, tenant admin or Relay Auth scope
// through it, even outside production.
func checkDemoGrant(g grant) error {
	if err := validGrant(g); err != nil {
		return err
	}
	for _, role := range g.Roles {
		if role == relayauth.RoleAdmin || role == relayauth.RoleTenantAdmin {
			return fmt.Errorf("%w: the demo login may not grant role %q", relayauth.ErrForbidden, role)
		}
	}
	for _, scope := range g.Scopes {
		if slices.Contains(relayauth.KnownScopes(), scope) {
			return fmt.Errorf("%w: the demo login may not grant scope %q", relayauth.ErrForbidden, scope)
		}
	}
	return nil
}

// handleAdminActivity is the last hour of logins, failed logins and
// revoked sessions, per minute, oldest first: the console's chart.
func (s *server) handleAdminActivity() http.Handler {
	type minute struct {
		Start       time.Time `json:"start"`
		Logins      int       `json:"logins"`
		Failures    int       `json:"failures"`
		Revocations int       `json:"revocations"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buckets := s.activity.lastHour(s.Now())
		out := make([]minute, len(buckets))
		for i, b := range buckets {
			out[i] = minute{Start: time.Unix(b.Minute*60, 0).UTC(), Logins: b.Logins, Failures: b.Failures, Revocations: b.Revocations}
		}
		writeJSON(w, http.StatusOK, map[string]any{"minutes": out})
	})
}

// handleListMigrations names the migrations /admin/migrations/{name} runs.
func (s *server) handleListMigrations() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names := s.Migrations.Names()
		if names == nil {
			names = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"migrations": names})
	})
}
