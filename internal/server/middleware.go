package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/metrics"
	"github.com/relayauth/relayauth/token"
)

// MaxHeaderBytes is what the server accepts in all request headers
// together; larger requests get a 431 problem. The http.Server's own
// limit is set above it so that this one answers first, in problem+json.
const MaxHeaderBytes = 64 << 10

// outer wraps every request: panics become 500 problems, oversized
// headers a 431, every answer gets no-store and nosniff, and one log line
// records method, path (never the query), status and duration.
func (s *server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, next)
	})
}

// requestState is what outer adds to every request, in one allocation:
// the status recorder, the X-Request-Id header value, the audit and
// observer contexts, and the request copy that carries them.
type requestState struct {
	rec   statusRecorder
	id    [1]string
	audit audit.RequestContext
	obs   httpauth.ObserverContext
	req   http.Request
}

// serve is outer's body. It is a method, not the closure, so that it is
// compiled here once, where WithContext is inlined and its copy of the
// request stays on the stack.
func (s *server) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := s.Now()
	st := &requestState{rec: statusRecorder{ResponseWriter: w, status: http.StatusOK}}
	rec := &st.rec
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if !rec.wrote {
				httpauth.WriteProblem(rec, http.StatusInternalServerError, "internal error")
			}
		}
		// One line per request at Debug: at tens of thousands of
		// requests a second, Info would make logging the bottleneck.
		// Decisions that matter are audit events at Info or Warn.
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelError
		}
		if !s.Log.Enabled(r.Context(), level) {
			return
		}
		s.Log.LogAttrs(r.Context(), level, "request", slog.String("request_id", audit.RequestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", s.Now().Sub(start)))
	}()
	h := rec.Header()
	// Shared, never-modified value slices: no allocation per request.
	h["Cache-Control"] = noStore
	h[hdrNoSniff] = noSniff
	st.id[0] = requestID(r.Header[hdrRequestID]) // canonical name: Get would allocate
	h[hdrRequestID] = st.id[:]
	st.audit = audit.RequestContext{Context: r.Context(), ID: st.id[0], Client: clientIP(r)}
	st.obs = httpauth.ObserverContext{Context: &st.audit, Observer: s.observer}
	st.req = *r.WithContext(&st.obs)
	r = &st.req
	if headerBytes(r.Header) > MaxHeaderBytes {
		httpauth.WriteProblem(rec, http.StatusRequestHeaderFieldsTooLarge,
			fmt.Sprintf("request headers over %d bytes", MaxHeaderBytes))
		return
	}
	next.ServeHTTP(rec, r)
}

// requestID keeps a caller's X-Request-ID (its only value) when it is
// short and plain, so traces join up across services, and makes one
// otherwise.
func requestID(values []string) string {
	if len(values) == 1 {
		in := values[0]
		if n := len(in); n > 0 && n <= 64 {
			ok := true
			for i := 0; i < n && ok; i++ {
				c := in[i]
				ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
			}
			if ok {
				return in
			}
		}
	}
	return nextRequestID()
}

var (
	noStore = []string{"no-store"}
	noSniff = []string{"nosniff"}
)

// Headers outer sets on every answer, by canonical name (a forward-auth
// yes removes them again: writeIdentity).
const (
	hdrNoSniff   = "X-Content-Type-Options"
	hdrRequestID = "X-Request-Id"
)

// Request ids need to be unique, not secret: a random per-process prefix
// and a counter, without a crypto/rand read on every request.
var (
	requestPrefix = newID()[:12] + "-"
	requestSeq    atomic.Uint64
)

func nextRequestID() string {
	var b [32]byte
	return string(strconv.AppendUint(append(b[:0], requestPrefix...), requestSeq.Add(1), 36))
}

// observe turns the middleware's decisions into audit events: failures
// at Warn, per-request successes at Debug (they would flood the trail).
func (s *server) observe(r *http.Request, d httpauth.Decision) {
	if d.Err == nil {
		s.Metrics.Verification(methodOf(d.Principal), metrics.VerifySuccess)
		if d.Principal.Method == relayauth.MethodAPIKey {
			s.Metrics.APIKeyOp(metrics.APIKeyVerifySuccess)
		}
		if !s.Audit.Enabled(r.Context(), slog.LevelDebug) {
			return // the event's target string would be built for nothing
		}
	}
	e := audit.Event{Action: "authenticate", Outcome: audit.Success, Target: r.Method + " " + r.URL.Path}
	if p := d.Principal; p != nil {
		e.Actor, e.ActorTenant, e.Method = p.Subject, p.Tenant, p.Method
		if d.Err != nil {
			e.Action = "authorize"
		}
	}
	if d.Err == nil {
		s.Audit.Debug(r.Context(), e)
		return
	}
	e.Outcome, e.Reason = audit.Failure, d.Err.Error()
	if e.Action == "authorize" {
		e.Outcome = audit.Denied
		s.Metrics.AuthorizationFailure(authzReason(d.Err))
	} else if !errors.Is(d.Err, httpauth.ErrNoCredentials) {
		method := metrics.MethodJWT
		if len(r.Header["X-Api-Key"]) > 0 {
			method = metrics.MethodAPIKey
			s.Metrics.APIKeyOp(metrics.APIKeyVerifyFailure)
		}
		s.Metrics.Verification(method, verifyOutcome(d.Err))
	}
	s.Audit.Log(r.Context(), e)
}

func methodOf(p *relayauth.Principal) string {
	if p.Method == relayauth.MethodAPIKey {
		return metrics.MethodAPIKey
	}
	return metrics.MethodJWT
}

func verifyOutcome(err error) string {
	switch {
	case errors.Is(err, relayauth.ErrUnavailable):
		return metrics.VerifyUnavailable
	case errors.Is(err, token.ErrExpired), errors.Is(err, apikey.ErrExpired):
		return metrics.VerifyExpired
	case errors.Is(err, httpauth.ErrSessionNotLive), errors.Is(err, apikey.ErrRevoked):
		return metrics.VerifyRevoked
	default:
		return metrics.VerifyInvalid
	}
}

func authzReason(err error) string {
	switch {
	case errors.Is(err, httpauth.ErrInsufficientScope):
		return metrics.AuthzInsufficientScope
	case errors.Is(err, relayauth.ErrNotFound):
		return metrics.AuthzNotFound
	default:
		return metrics.AuthzForbidden
	}
}

// refuse audits a refused or failed operation and answers err.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, e audit.Event, outcome string, err error) {
	e.Outcome, e.Reason = outcome, err.Error()
	s.Audit.Log(r.Context(), e)
	httpauth.WriteError(w, r, s.Log, err)
}

// storeError counts a store failure that was the backend's fault.
func (s *server) storeError(err error, op string) {
	if err != nil && errors.Is(err, relayauth.ErrUnavailable) {
		s.Metrics.StoreError(backendName(s.Sessions), op)
	}
}

func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// handleNotFound answers every request no route took: 405 with Allow when
// the path exists under another method, else 404. Both are problems.
func (s *server) handleNotFound() http.Handler {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			httpauth.WriteProblem(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here")
			return
		}
		httpauth.WriteError(w, r, s.Log, errNoRoute)
	})
}

// errNoRoute does not repeat the path: a client may have put a token in it.
var errNoRoute = fmt.Errorf("%w: no such route", relayauth.ErrNotFound)
