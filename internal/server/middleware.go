package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
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
		start := s.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
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
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			s.Log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", s.Now().Sub(start)))
		}()
		h := rec.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if headerBytes(r.Header) > MaxHeaderBytes {
			httpauth.WriteProblem(rec, http.StatusRequestHeaderFieldsTooLarge,
				fmt.Sprintf("request headers over %d bytes", MaxHeaderBytes))
			return
		}
		next.ServeHTTP(rec, r)
	})
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
		httpauth.WriteError(w, r, s.Log, fmt.Errorf("%w: no route for %s", relayauth.ErrNotFound, r.URL.Path))
	})
}
