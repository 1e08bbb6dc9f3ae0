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

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/internal/password"
	"github.com/relayauth/relayauth/token"
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

// BenchmarkIntrospect is a whole POST /auth/introspect through the server:
// the caller authenticated (bearer or API key) and allowed by
// RequireScope, the form read, the token in it verified with its
// session, the RFC 7662 answer encoded. cache=on is how the server runs
// (token.WithCache, the default TOKEN_CACHE_SIZE): the load kit's caller
// introspects its own token, so both verifications hit. Compare with
// BenchmarkMe in one invocation:
//
//	go test -run='^$' -bench='Me|Introspect' -benchmem ./internal/server
func BenchmarkIntrospect(b *testing.B) {
	for _, tc := range []struct {
		name   string
		apiKey bool
		cache  bool
	}{
		{"caller=bearer/cache=off", false, false},
		{"caller=bearer/cache=on", false, true},
		{"caller=apikey/cache=off", true, false},
		{"caller=apikey/cache=on", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := []harnessOpt{func(d *Deps) { d.Log = slog.New(slog.NewJSONHandler(io.Discard, nil)) }}
			if tc.cache {
				opts = append(opts, func(d *Deps) {
					d.Verifier = token.NewVerifier(d.Keys, "relay-test", "relay-aud", token.WithClock(d.Now), token.WithCache(1000))
				})
			}
			h := newHarness(b, opts...)
			admin := h.loginAdmin()
			p := h.issue(admin, "gateway", "acme", nil, []string{relayauth.ScopeTokensIntrospect, "orders:read"})
			body := "token=" + p.AccessToken
			req := httptest.NewRequest("POST", "/auth/introspect", nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.apiKey {
				// The key manager logs the creation to the default
				// logger, into the middle of the benchmark's line.
				defer slog.SetDefault(slog.Default())
				slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, nil)))
				k := h.createKey(admin.AccessToken, `{"name":"gw","tenant":"acme","scopes":["tokens:introspect"]}`)
				req.Header.Set("X-API-Key", k.Key)
			} else {
				req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			}
			rd := new(bodyReader)
			req.Body = rd
			req.ContentLength = int64(len(body))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), `{"active":true,`) {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkForward is a whole GET /auth/forward as a gateway asks it:
// the bearer token verified (the cache on, as the server runs), the
// requirements of the URL's query checked, the identity written in
// headers. Compare with BenchmarkMe and BenchmarkIntrospect.
func BenchmarkForward(b *testing.B) {
	for _, tc := range []struct{ name, target, uri string }{
		{"no requirements", "/auth/forward", ""},
		{"scopes", "/auth/forward?scopes=orders:read", "/orders/42?expand=items"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, func(d *Deps) {
				d.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
				d.Verifier = token.NewVerifier(d.Keys, "relay-test", "relay-aud", token.WithClock(d.Now), token.WithCache(1000))
			})
			p := h.issue(h.loginAdmin(), "bob", "acme", nil, []string{"orders:read", "profile"})
			req := httptest.NewRequest("GET", tc.target, nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			if tc.uri != "" {
				req.Header.Set("X-Original-URI", tc.uri)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// bodyReader is a request body reset for every iteration, so that a
// benchmark counts the server's allocations, not a new body's.
type bodyReader struct{ strings.Reader }

func (*bodyReader) Close() error { return nil }

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
