package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayauth/relayauth/metrics"
)

// scrape reads /metrics over HTTP and returns every sample by its series,
// e.g. `auth_logins_total{outcome="success"}`.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	r := h.do("GET", "/metrics", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(r.body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func withMetrics(d *Deps) {
	reg := prometheus.NewRegistry()
	d.Metrics = metrics.New(reg)
	d.MetricsHandler = metrics.Handler(reg)
}

// A scripted flow moves each counter by exactly its share.
func TestMetricsFlow(t *testing.T) {
	h := newHarness(t, withMetrics)
	setup := h.loginAdmin()
	key := h.createKey(setup.AccessToken, `{"name":"m","tenant":"acme","scopes":[]}`)
	before := scrape(t, h)

	h.do("POST", "/auth/login", "", `{"username":"admin","password":"wrong"}`) // 1 failed login
	p := h.loginAdmin()                                                        // 1 good login: 1 access + 1 refresh
	np := h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`))
	h.do("GET", "/auth/me", np.AccessToken, nil)                                // 1 verify success
	h.do("POST", "/auth/logout", np.AccessToken, nil)                           // 1 verify success, 1 session revocation
	h.do("GET", "/auth/me", np.AccessToken, nil)                                // 1 verify revoked
	h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`) // reuse of a dead token
	h.withKey("GET", "/auth/me", key.Key, nil)                                  // 1 key verify

	after := scrape(t, h)
	want := map[string]float64{
		`auth_logins_total{outcome="bad_credentials"}`:                 1,
		`auth_logins_total{outcome="success"}`:                         1,
		`auth_tokens_issued_total{type="access"}`:                      2,
		`auth_tokens_issued_total{type="refresh"}`:                     2,
		`auth_refreshes_total{outcome="success"}`:                      1,
		`auth_refreshes_total{outcome="invalid"}`:                      1, // the session was already gone
		`auth_verifications_total{method="jwt",outcome="success"}`:     2,
		`auth_verifications_total{method="jwt",outcome="revoked"}`:     1,
		`auth_verifications_total{method="api_key",outcome="success"}`: 1,
		`auth_api_key_operations_total{operation="verify_success"}`:    1,
		`auth_api_key_operations_total{operation="create"}`:            0,
		`auth_revocations_total{scope="session"}`:                      1,
		`auth_revoked_sessions_total{scope="session"}`:                 1,
		`auth_token_signing_duration_seconds_count{alg="HS256"}`:       4,
		`auth_logins_total{outcome="throttled"}`:                       0,
		`auth_refresh_reuse_detected_total`:                            0,
		`auth_store_errors_total{backend="memory",operation="revoke"}`: 0,
	}
	for series, delta := range want {
		if got := after[series] - before[series]; got != delta {
			t.Errorf("%s moved by %v, want %v", series, got, delta)
		}
	}
	body := string(h.do("GET", "/metrics", "", nil).body)
	for _, secret := range []string{p.AccessToken, p.RefreshToken, np.AccessToken, testAdminPassword, p.SessionID, key.Key, key.ID} {
		if strings.Contains(body, secret) {
			t.Fatal("the exposition carries a secret or an identifier")
		}
	}
}

func TestMetricsReuseDetected(t *testing.T) {
	h := newHarness(t, withMetrics)
	p := h.loginAdmin()
	h.decodePair(h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`))
	before := scrape(t, h)
	h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`)
	after := scrape(t, h)
	if d := after[`auth_refresh_reuse_detected_total`] - before[`auth_refresh_reuse_detected_total`]; d != 1 {
		t.Fatalf("reuse counted %v times", d)
	}
}

// With metrics off nothing is exported: /metrics does not exist.
func TestMetricsOff(t *testing.T) {
	h := newHarness(t)
	h.loginAdmin()
	wantProblem(t, h.do("GET", "/metrics", "", nil), http.StatusNotFound)
}
