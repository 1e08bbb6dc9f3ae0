package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMe is a whole authenticated request through the server
// (middleware, audit observer, handler), with metrics off and on: the
// metrics' share of the hot path.
func BenchmarkMe(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []harnessOpt
	}{{"metrics=off", nil}, {"metrics=on", []harnessOpt{withMetrics}}} {
		b.Run(tc.name, func(b *testing.B) {
			quiet := func(d *Deps) { d.Log = slog.New(slog.NewJSONHandler(io.Discard, nil)) }
			h := newHarness(b, append(tc.opts, quiet)...)
			p := h.loginAdmin()
			req := httptest.NewRequest("GET", "/auth/me", nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
