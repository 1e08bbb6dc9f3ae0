package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// wantFamilies is every metric New registers, with its type and labels.
var wantFamilies = map[string]struct {
	typ    string
	labels []string
}{
	"auth_logins_total":                        {"COUNTER", []string{"outcome"}},
	"auth_tokens_issued_total":                 {"COUNTER", []string{"type"}},
	"auth_verifications_total":                 {"COUNTER", []string{"method", "outcome"}},
	"auth_refreshes_total":                     {"COUNTER", []string{"outcome"}},
	"auth_refresh_reuse_detected_total":        {"COUNTER", nil},
	"auth_revocations_total":                   {"COUNTER", []string{"scope"}},
	"auth_revoked_sessions_total":              {"COUNTER", []string{"scope"}},
	"auth_api_key_operations_total":            {"COUNTER", []string{"operation"}},
	"auth_token_signing_duration_seconds":      {"HISTOGRAM", []string{"alg"}},
	"auth_token_verification_duration_seconds": {"HISTOGRAM", []string{"alg"}},
	"auth_signing_errors_total":                {"COUNTER", []string{"alg"}},
	"auth_store_errors_total":                  {"COUNTER", []string{"backend", "operation"}},
	"auth_authorization_failures_total":        {"COUNTER", []string{"reason"}},
	"auth_revocation_state_age_seconds":        {"GAUGE", nil},
	"auth_clock_offset_seconds":                {"GAUGE", nil},
	"auth_revocation_propagation_seconds":      {"HISTOGRAM", nil},
	"auth_active_sessions":                     {"GAUGE", nil},
}

// allowedValues is, for each label name, every value it may carry.
var allowedValues = map[string][]string{
	"outcome":   slices.Concat(loginOutcomes[:], verifyOutcomes[:], refreshOutcomes[:]),
	"type":      tokenTypes[:],
	"method":    verifyMethods[:],
	"scope":     revokeScopes[:],
	"operation": slices.Concat(apiKeyOps[:], storeOps[:]),
	"alg":       algs[:],
	"backend":   storeBackends[:],
	"reason":    authzReasons[:],
}

// touchAll records once through every method, with a listed value, so
// every metric has a sample (the gauge func included).
func touchAll(m *Metrics) {
	m.Login(LoginSuccess)
	m.TokenIssued(TokenAccess)
	m.Verification(MethodJWT, VerifySuccess)
	m.Refresh(RefreshReuseDetected)
	m.Revocation(ScopeTenant)
	m.RevokedSessions(ScopeTenant, 3)
	m.APIKeyOp(APIKeyCreate)
	m.ObserveSign(AlgEdDSA, 20*time.Microsecond)
	m.ObserveVerify(AlgEdDSA, 40*time.Microsecond)
	m.SigningError(AlgES256)
	m.StoreError(BackendRedis, StoreCheck)
	m.AuthorizationFailure(AuthzNotFound)
	m.SetRevocationStateAge(1500 * time.Millisecond)
	m.SetClockOffset(-2 * time.Millisecond)
	m.ObserveRevocationPropagation(200 * time.Millisecond)
	m.ActiveSessionsFunc(func() float64 { return 7 })
}

func TestNewRegistersEveryMetricWithItsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	touchAll(New(reg))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		got[name] = true
		want, ok := wantFamilies[name]
		if !ok {
			t.Errorf("unexpected metric %s", name)
			continue
		}
		if typ := mf.GetType().String(); typ != want.typ {
			t.Errorf("%s is a %s, want %s", name, typ, want.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, lp := range s.GetLabel() {
				labels = append(labels, lp.GetName())
				if !slices.Contains(allowedValues[lp.GetName()], lp.GetValue()) {
					t.Errorf("%s{%s=%q}: value outside the label's set", name, lp.GetName(), lp.GetValue())
				}
			}
			if !slices.Equal(labels, want.labels) {
				t.Errorf("%s has labels %v, want %v", name, labels, want.labels)
			}
		}
	}
	for name := range wantFamilies {
		if !got[name] {
			t.Errorf("%s is not registered", name)
		}
	}
}

// Names, units and suffixes follow the Prometheus conventions as promlint
// checks them, plus this project's: an auth_ prefix and no label that
// could identify a user, tenant, key or session.
func TestMetricsFollowNamingConventions(t *testing.T) {
	reg := prometheus.NewRegistry()
	touchAll(New(reg))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	m := New(prometheus.NewRegistry())
	for _, c := range []prometheus.Collector{m.refreshReuse, m.revocationAge, m.activeSessions} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}

	forbidden := []string{"user", "username", "subject", "sub", "tenant", "key", "key_id", "kid",
		"session", "session_id", "sid", "jti", "token", "ip", "client", "user_agent", "path", "email"}
	for name, f := range wantFamilies {
		if !strings.HasPrefix(name, "auth_") {
			t.Errorf("%s lacks the auth_ prefix", name)
		}
		if (f.typ == "COUNTER") != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: _total is for counters and only counters", name)
		}
		if f.typ == "HISTOGRAM" && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: a histogram here measures time, in seconds", name)
		}
		for _, l := range f.labels {
			if slices.Contains(forbidden, l) {
				t.Errorf("%s has a label %q that could identify a caller", name, l)
			}
		}
	}
}

func TestRecording(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	m.Login(LoginSuccess)
	m.Login(LoginSuccess)
	m.Login(LoginBadCredentials)
	m.Login(LoginThrottled)
	m.Verification(MethodJWT, VerifySuccess)
	m.Verification(MethodJWT, VerifyRevoked)
	m.Verification(MethodAPIKey, VerifyUnavailable)
	m.TokenIssued(TokenAccess)
	m.TokenIssued(TokenRefresh)
	m.TokenIssued(TokenRefresh)
	m.Revocation(ScopeSubject)
	m.RevokedSessions(ScopeSubject, 4)
	m.RevokedSessions(ScopeSubject, 0)  // nothing ended: nothing counted
	m.RevokedSessions(ScopeSubject, -2) // nonsense: a counter never goes down
	m.APIKeyOp(APIKeyRotate)
	m.SigningError(AlgHS256)
	m.StoreError(BackendFile, StoreSave)
	m.AuthorizationFailure(AuthzInsufficientScope)

	const want = `
# HELP auth_logins_total Password logins, by outcome.
# TYPE auth_logins_total counter
auth_logins_total{outcome="bad_credentials"} 1
auth_logins_total{outcome="error"} 0
auth_logins_total{outcome="other"} 0
auth_logins_total{outcome="success"} 2
auth_logins_total{outcome="throttled"} 1
# HELP auth_tokens_issued_total Tokens signed and handed out, by token type.
# TYPE auth_tokens_issued_total counter
auth_tokens_issued_total{type="access"} 1
auth_tokens_issued_total{type="other"} 0
auth_tokens_issued_total{type="refresh"} 2
# HELP auth_revocations_total Revocation requests carried out, by scope.
# TYPE auth_revocations_total counter
auth_revocations_total{scope="global"} 0
auth_revocations_total{scope="other"} 0
auth_revocations_total{scope="session"} 0
auth_revocations_total{scope="subject"} 1
auth_revocations_total{scope="tenant"} 0
# HELP auth_revoked_sessions_total Live sessions ended by revocations, by the revocation's scope.
# TYPE auth_revoked_sessions_total counter
auth_revoked_sessions_total{scope="global"} 0
auth_revoked_sessions_total{scope="other"} 0
auth_revoked_sessions_total{scope="session"} 0
auth_revoked_sessions_total{scope="subject"} 4
auth_revoked_sessions_total{scope="tenant"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"auth_logins_total", "auth_tokens_issued_total", "auth_revocations_total", "auth_revoked_sessions_total"); err != nil {
		t.Error(err)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"auth_verifications_total", []string{MethodJWT, VerifySuccess}, 1},
		{"auth_verifications_total", []string{MethodJWT, VerifyRevoked}, 1},
		{"auth_verifications_total", []string{MethodAPIKey, VerifyUnavailable}, 1},
		{"auth_verifications_total", []string{MethodAPIKey, VerifySuccess}, 0},
		{"auth_api_key_operations_total", []string{APIKeyRotate}, 1},
		{"auth_signing_errors_total", []string{AlgHS256}, 1},
		{"auth_store_errors_total", []string{BackendFile, StoreSave}, 1},
		{"auth_store_errors_total", []string{BackendRedis, StoreSave}, 0},
		{"auth_authorization_failures_total", []string{AuthzInsufficientScope}, 1},
	} {
		if got := sample(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestRefreshReuseCountsTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Refresh(RefreshSuccess)
	m.Refresh(RefreshReuseDetected)
	m.Refresh(RefreshReuseDetected)
	m.Refresh("reuse") // not the value: "other", and not reuse
	if got := testutil.ToFloat64(m.refreshReuse); got != 2 {
		t.Errorf("auth_refresh_reuse_detected_total = %v, want 2", got)
	}
	if got := sample(t, reg, "auth_refreshes_total", RefreshReuseDetected); got != 2 {
		t.Errorf(`auth_refreshes_total{outcome="reuse_detected"} = %v, want 2`, got)
	}
	if got := sample(t, reg, "auth_refreshes_total", Other); got != 1 {
		t.Errorf(`auth_refreshes_total{outcome="other"} = %v, want 1`, got)
	}
}

func TestDurations(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveVerify(AlgES256, 3*time.Microsecond)
	m.ObserveVerify(AlgES256, 30*time.Millisecond)
	m.ObserveSign(AlgHS256, 1500*time.Nanosecond)
	m.ObserveRevocationPropagation(2 * time.Second)
	m.SetRevocationStateAge(1250 * time.Millisecond)

	h := histogram(t, reg, "auth_token_verification_duration_seconds", AlgES256)
	if h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-0.030003) > 1e-12 {
		t.Errorf("verify ES256: count %d sum %v, want 2 and 0.030003", h.GetSampleCount(), h.GetSampleSum())
	}
	// Cumulative counts at some bounds: 3 µs lies in (2 µs, 4 µs].
	for _, b := range []struct {
		le   float64
		want uint64
	}{{2e-6, 0}, {4e-6, 1}, {0.016384, 1}, {0.032768, 2}} {
		if got := cumulative(t, h.GetBucket(), b.le); got != b.want {
			t.Errorf("verify ES256 bucket le=%v: %d, want %d", b.le, got, b.want)
		}
	}
	if top := cryptoBuckets[len(cryptoBuckets)-1]; top < 0.05 || cryptoBuckets[0] > 1e-6 {
		t.Errorf("crypto buckets span %v..%v, want at least 1µs..50ms", cryptoBuckets[0], top)
	}
	if h := histogram(t, reg, "auth_token_signing_duration_seconds", AlgHS256); h.GetSampleCount() != 1 {
		t.Errorf("sign HS256 count %d, want 1", h.GetSampleCount())
	}
	if h := histogram(t, reg, "auth_revocation_propagation_seconds"); h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
		t.Errorf("propagation count %d sum %v, want 1 and 2", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := testutil.ToFloat64(m.revocationAge); got != 1.25 {
		t.Errorf("revocation state age %v, want 1.25", got)
	}
}

func TestActiveSessionsFunc(t *testing.T) {
	m := New(prometheus.NewRegistry())
	if n := testutil.CollectAndCount(m.activeSessions); n != 0 {
		t.Errorf("before a function is set: %d samples, want none", n)
	}
	var n float64 = 3
	m.ActiveSessionsFunc(func() float64 { return n })
	if got := testutil.ToFloat64(m.activeSessions); got != 3 {
		t.Errorf("auth_active_sessions = %v, want 3", got)
	}
	n = 5 // read at scrape time, not when set
	if got := testutil.ToFloat64(m.activeSessions); got != 5 {
		t.Errorf("auth_active_sessions = %v, want 5", got)
	}
	m.ActiveSessionsFunc(nil)
	if n := testutil.CollectAndCount(m.activeSessions); n != 0 {
		t.Errorf("after the function is cleared: %d samples, want none", n)
	}
}

// Values outside a label's set are counted under "other" and never add a
// series: the number of series is fixed when New returns, whatever
// callers pass, and nothing a caller passes reaches the exposition.
func TestUnknownValuesMapToOther(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ActiveSessionsFunc(func() float64 { return 1 })
	before := seriesCount(t, reg)

	const secret = "eyJhbGciOiJIUzI1NiJ9.alice-tenant-session-9f1c" // what must never show
	for _, v := range []string{"", secret, "Success", "SUCCESS", " success", "success\x00", "hs256", Other} {
		m.Login(v)
		m.TokenIssued(v)
		m.Verification(v, v)
		m.Verification(MethodJWT, v)
		m.Verification(v, VerifySuccess)
		m.Refresh(v)
		m.Revocation(v)
		m.RevokedSessions(v, 2)
		m.APIKeyOp(v)
		m.ObserveSign(v, time.Microsecond)
		m.ObserveVerify(v, time.Microsecond)
		m.SigningError(v)
		m.StoreError(v, v)
		m.StoreError(BackendRedis, v)
		m.AuthorizationFailure(v)
	}
	const n = 8 // values tried
	if after := seriesCount(t, reg); after != before {
		t.Errorf("unknown values changed the series count from %d to %d", before, after)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"auth_logins_total", []string{Other}, n},
		{"auth_tokens_issued_total", []string{Other}, n},
		{"auth_verifications_total", []string{Other, Other}, n},
		{"auth_verifications_total", []string{MethodJWT, Other}, n},
		{"auth_verifications_total", []string{Other, VerifySuccess}, n},
		{"auth_verifications_total", []string{MethodJWT, VerifySuccess}, 0},
		{"auth_refreshes_total", []string{Other}, n},
		{"auth_revocations_total", []string{Other}, n},
		{"auth_revoked_sessions_total", []string{Other}, 2 * n},
		{"auth_api_key_operations_total", []string{Other}, n},
		{"auth_signing_errors_total", []string{Other}, n},
		{"auth_store_errors_total", []string{Other, Other}, n},
		{"auth_store_errors_total", []string{BackendRedis, Other}, n},
		{"auth_authorization_failures_total", []string{Other}, n},
	} {
		if got := sample(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.refreshReuse); got != 0 {
		t.Errorf("unknown refresh outcomes counted as reuse: %v", got)
	}
	for _, name := range []string{"auth_token_signing_duration_seconds", "auth_token_verification_duration_seconds"} {
		if h := histogram(t, reg, name, Other); h.GetSampleCount() != n {
			t.Errorf(`%s{alg="other"} count %d, want %d`, name, h.GetSampleCount(), n)
		}
	}

	body := scrape(t, reg)
	for _, s := range []string{secret, "alice", "Success", "hs256"} {
		if strings.Contains(body, s) {
			t.Errorf("the exposition contains %q", s)
		}
	}
}

// The series count is a product of small fixed sets; this pins it so a new
// label value is a deliberate change.
func TestSeriesCountIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg).ActiveSessionsFunc(func() float64 { return 0 })
	want := map[string]int{
		"auth_logins_total":                        5,
		"auth_tokens_issued_total":                 3,
		"auth_verifications_total":                 3 * 6,
		"auth_refreshes_total":                     5,
		"auth_refresh_reuse_detected_total":        1,
		"auth_revocations_total":                   5,
		"auth_revoked_sessions_total":              5,
		"auth_api_key_operations_total":            6,
		"auth_token_signing_duration_seconds":      4,
		"auth_token_verification_duration_seconds": 4,
		"auth_signing_errors_total":                4,
		"auth_store_errors_total":                  4 * 11,
		"auth_authorization_failures_total":        4,
		"auth_revocation_state_age_seconds":        1,
		"auth_clock_offset_seconds":                1,
		"auth_revocation_propagation_seconds":      1,
		"auth_active_sessions":                     1,
	}
	total := 0
	for name, n := range want {
		got, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
		total += n
	}
	if got := seriesCount(t, reg); got != total {
		t.Errorf("%d series in all, want %d", got, total)
	}
}

// Every method of *Metrics, found by reflection so a method added later is
// covered too, is a no-op on a nil receiver; so is New(nil).
func TestNilMetricsIsSafe(t *testing.T) {
	if m := New(nil); m != nil {
		t.Fatalf("New(nil) = %p, want nil", m)
	}
	var m *Metrics
	v := reflect.ValueOf(m)
	typ := v.Type()
	if typ.NumMethod() < 15 {
		t.Fatalf("only %d methods found", typ.NumMethod())
	}
	for i := range typ.NumMethod() {
		method := typ.Method(i)
		t.Run(method.Name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s on a nil *Metrics panicked: %v", method.Name, r)
				}
			}()
			mt := method.Type
			args := []reflect.Value{v}
			for j := 1; j < mt.NumIn(); j++ {
				args = append(args, nonZero(mt.In(j)))
			}
			method.Func.Call(args)
		})
	}
	// And the ordinary way, as the server calls them.
	m.Login(LoginSuccess)
	m.TokenIssued(TokenAccess)
	m.Verification(MethodJWT, VerifySuccess)
	m.Refresh(RefreshReuseDetected)
	m.Revocation(ScopeGlobal)
	m.RevokedSessions(ScopeGlobal, 10)
	m.APIKeyOp(APIKeyRevoke)
	m.ObserveSign(AlgHS256, time.Microsecond)
	m.ObserveVerify(AlgHS256, time.Microsecond)
	m.SigningError(AlgHS256)
	m.StoreError(BackendMemory, StoreGet)
	m.AuthorizationFailure(AuthzForbidden)
	m.SetRevocationStateAge(time.Second)
	m.SetClockOffset(time.Millisecond)
	m.ObserveRevocationPropagation(time.Second)
	m.ActiveSessionsFunc(func() float64 { return 1 })
}

// nonZero returns a value of t that would be recorded if the receiver
// were real, so a nil check that is missing shows as a panic.
func nonZero(t reflect.Type) reflect.Value {
	switch t.Kind() {
	case reflect.String:
		return reflect.ValueOf(LoginSuccess).Convert(t)
	case reflect.Int, reflect.Int64:
		return reflect.ValueOf(int64(time.Millisecond)).Convert(t)
	case reflect.Func:
		return reflect.MakeFunc(t, func([]reflect.Value) []reflect.Value {
			return []reflect.Value{reflect.ValueOf(1.0).Convert(t.Out(0))}
		})
	}
	return reflect.Zero(t)
}

func TestNewTwiceWithOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("a second New with the same registry did not panic")
		}
	}()
	New(reg)
}

// Two Metrics on two registries are independent: nothing is global.
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(prometheus.NewRegistry()), New(prometheus.NewRegistry())
	a.Refresh(RefreshReuseDetected)
	if got := testutil.ToFloat64(b.refreshReuse); got != 0 {
		t.Errorf("recording on one registry showed on another: %v", got)
	}
}

func TestConcurrentRecording(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m.ActiveSessionsFunc(func() float64 { return float64(w) })
			for range each {
				m.Verification(MethodAPIKey, VerifyExpired)
				m.ObserveVerify(AlgEdDSA, time.Microsecond)
				m.Refresh(RefreshReuseDetected)
			}
		})
	}
	wg.Go(func() { // scrapes race the writers
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if got := sample(t, reg, "auth_verifications_total", MethodAPIKey, VerifyExpired); got != workers*each {
		t.Errorf("verifications %v, want %d", got, workers*each)
	}
	if got := testutil.ToFloat64(m.refreshReuse); got != workers*each {
		t.Errorf("reuse %v, want %d", got, workers*each)
	}
	if h := histogram(t, reg, "auth_token_verification_duration_seconds", AlgEdDSA); h.GetSampleCount() != workers*each {
		t.Errorf("verify observations %d, want %d", h.GetSampleCount(), workers*each)
	}
}

// The hot path allocates nothing, with a real *Metrics or a nil one.
func TestRecordingDoesNotAllocate(t *testing.T) {
	m := New(prometheus.NewRegistry())
	for _, mm := range []*Metrics{m, nil} {
		for name, f := range map[string]func(){
			"Login":        func() { mm.Login(LoginBadCredentials) },
			"Verification": func() { mm.Verification(MethodAPIKey, VerifyRevoked) },
			"Unknown":      func() { mm.Verification("x", "y") },
			"Refresh":      func() { mm.Refresh(RefreshReuseDetected) },
			"Revoked":      func() { mm.RevokedSessions(ScopeTenant, 12) },
			"ObserveSign":  func() { mm.ObserveSign(AlgES256, 40*time.Microsecond) },
			"Verify":       func() { mm.ObserveVerify(AlgES256, 90*time.Microsecond) },
			"StoreError":   func() { mm.StoreError(BackendRedis, StoreSync) },
			"StateAge":     func() { mm.SetRevocationStateAge(time.Second) },
			"ClockOffset":  func() { mm.SetClockOffset(time.Second) },
		} {
			if a := testing.AllocsPerRun(100, f); a != 0 {
				t.Errorf("%s (nil=%v): %v allocations per call, want 0", name, mm == nil, a)
			}
		}
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg).Login(LoginThrottled)
	body := scrape(t, reg)
	if !strings.Contains(body, `auth_logins_total{outcome="throttled"} 1`) {
		t.Errorf("the scrape lacks the login counter:\n%s", body)
	}
}

// scrape returns what Handler serves for reg.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return string(b)
}
