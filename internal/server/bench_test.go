package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayauth/relayauth/internal/password"
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

// BenchmarkVerifyUnderLoginFlood measures token verification throughput
// (the whole /auth/me request) with and without a flood of wrong-password
// logins hashing with argon2id at OWASP cost. Every flood request uses a
// fresh username and client address, so throttling does not absorb it:
// only the bound on concurrent hashes protects verification. Target: the
// flooded figure stays within 1/0.8 of the quiet one.
func BenchmarkVerifyUnderLoginFlood(b *testing.B) {
	for _, flood := range []bool{false, true} {
		name := "quiet"
		if flood {
			name = "flood"
		}
		b.Run(name, func(b *testing.B) {
			hasher := password.NewHasher(password.OWASP, max(1, runtime.NumCPU()/2))
			quiet := func(d *Deps) {
				d.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
				d.Hasher = hasher
				admin, err := hasher.Hash(context.Background(), testAdminPassword)
				if err != nil {
					b.Fatal(err)
				}
				d.Admin = admin
			}
			h := newHarness(b, quiet)
			p := h.loginAdmin()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if flood {
				for i := range 8 { // attackers outnumber the hashing slots
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := 0; ; n++ {
							select {
							case <-stop:
								return
							default:
							}
							req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(
								fmt.Sprintf(`{"username":"user-%d-%d","password":"guess"}`, i, n)))
							req.Header.Set("Content-Type", "application/json")
							req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", i, n>>8&255, n&255)
							h.h.ServeHTTP(httptest.NewRecorder(), req)
						}
					}()
				}
				time.Sleep(200 * time.Millisecond) // let the flood saturate the hashers
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/auth/me", nil)
				req.Header.Set("Authorization", "Bearer "+p.AccessToken)
				for pb.Next() {
					w := httptest.NewRecorder()
					h.h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("status %d", w.Code)
						return
					}
				}
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}
