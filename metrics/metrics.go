package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records Relay Auth's authentication events. Its methods are safe
// for concurrent use and are no-ops on a nil *Metrics.
type Metrics struct {
	logins          [len(loginOutcomes)]prometheus.Counter
	tokensIssued    [len(tokenTypes)]prometheus.Counter
	verifications   [len(verifyMethods)][len(verifyOutcomes)]prometheus.Counter
	refreshes       [len(refreshOutcomes)]prometheus.Counter
	refreshReuse    prometheus.Counter
	revocations     [len(revokeScopes)]prometheus.Counter
	revokedSessions [len(revokeScopes)]prometheus.Counter
	apiKeyOps       [len(apiKeyOps)]prometheus.Counter
	signDuration    [len(algs)]prometheus.Observer
	verifyDuration  [len(algs)]prometheus.Observer
	signingErrors   [len(algs)]prometheus.Counter
	storeErrors     [len(storeBackends)][len(storeOps)]prometheus.Counter
	authzFailures   [len(authzReasons)]prometheus.Counter
	revocationAge   prometheus.Gauge
	clockOffset     prometheus.Gauge
	propagation     prometheus.Observer
	activeSessions  *funcGauge
}

// cryptoBuckets spans 1 µs to 65.5 ms in powers of two: an HS256 MAC is a
// microsecond or two, an ES256 verification tens of microseconds, and
// anything in the top buckets is a starved CPU.
var cryptoBuckets = prometheus.ExponentialBuckets(1e-6, 2, 17)

// propagationBuckets brackets the default revocation SLA (5 s) with room
// on both sides to see how far inside or outside it an instance is.
var propagationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New creates Relay Auth's collectors, registers them with reg and returns
// them; every labelled series exists, at zero, from the start. A nil reg
// returns a nil *Metrics, which records nothing. New panics if reg already
// holds any of these metrics, as when New is called twice with one
// registry: that is a wiring mistake, not a run-time condition.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{}

	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_logins_total",
		Help: "Password logins, by outcome.",
	}, []string{"outcome"})
	resolve(logins, m.logins[:], loginOutcomes[:])

	issued := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_tokens_issued_total",
		Help: "Tokens signed and handed out, by token type.",
	}, []string{"type"})
	resolve(issued, m.tokensIssued[:], tokenTypes[:])

	verifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_verifications_total",
		Help: "Credential verifications, by credential kind and outcome; outcome unavailable means the request was refused because the store could not vouch for it.",
	}, []string{"method", "outcome"})
	for i, method := range verifyMethods {
		for j, outcome := range verifyOutcomes {
			m.verifications[i][j] = verifications.WithLabelValues(method, outcome)
		}
	}

	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_refreshes_total",
		Help: "Refresh-token exchanges, by outcome.",
	}, []string{"outcome"})
	resolve(refreshes, m.refreshes[:], refreshOutcomes[:])

	m.refreshReuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "auth_refresh_reuse_detected_total",
		Help: "Dead refresh tokens presented again, each revoking its session: a stolen token or a client racing itself. Equal to auth_refreshes_total{outcome=\"reuse_detected\"}; alert on this one.",
	})

	revocations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_revocations_total",
		Help: "Revocation requests carried out, by scope.",
	}, []string{"scope"})
	resolve(revocations, m.revocations[:], revokeScopes[:])

	revoked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_revoked_sessions_total",
		Help: "Live sessions ended by revocations, by the revocation's scope.",
	}, []string{"scope"})
	resolve(revoked, m.revokedSessions[:], revokeScopes[:])

	keyOps := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_api_key_operations_total",
		Help: "API-key operations, by operation.",
	}, []string{"operation"})
	resolve(keyOps, m.apiKeyOps[:], apiKeyOps[:])

	signDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "auth_token_signing_duration_seconds",
		Help:    "Time to sign one token, by algorithm.",
		Buckets: cryptoBuckets,
	}, []string{"alg"})
	verifyDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "auth_token_verification_duration_seconds",
		Help:    "Time to verify one token's signature and claims, by algorithm.",
		Buckets: cryptoBuckets,
	}, []string{"alg"})
	for i, alg := range algs {
		m.signDuration[i] = signDuration.WithLabelValues(alg)
		m.verifyDuration[i] = verifyDuration.WithLabelValues(alg)
	}

	signingErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_signing_errors_total",
		Help: "Tokens that could not be signed, by algorithm.",
	}, []string{"alg"})
	resolve(signingErrors, m.signingErrors[:], algs[:])

	storeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_store_errors_total",
		Help: "Store operations that failed for the store's own reasons (not a missing or taken key), by backend and operation.",
	}, []string{"backend", "operation"})
	for i, backend := range storeBackends {
		for j, op := range storeOps {
			m.storeErrors[i][j] = storeErrors.WithLabelValues(backend, op)
		}
	}

	authz := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auth_authorization_failures_total",
		Help: "Authenticated requests refused, by reason.",
	}, []string{"reason"})
	resolve(authz, m.authzFailures[:], authzReasons[:])

	m.revocationAge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "auth_revocation_state_age_seconds",
		Help: "Time since this instance last confirmed its revocation state with the shared store; past the revocation SLA it fails closed.",
	})
	m.clockOffset = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "auth_clock_offset_seconds",
		Help: "Redis's clock minus this instance's, as last measured (the largest of a Cluster's masters); beyond CLOCK_SKEW_TOLERANCE the instance is not ready.",
	})
	propagation := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "auth_revocation_propagation_seconds",
		Help:    "Time from a revocation on one instance to its taking effect on this one.",
		Buckets: propagationBuckets,
	})
	m.propagation = propagation

	m.activeSessions = &funcGauge{desc: prometheus.NewDesc(
		"auth_active_sessions",
		"Sessions the session store holds, as its cheap count reports; a store that sweeps lazily includes expired sessions not yet swept.",
		nil, nil,
	)}

	reg.MustRegister(logins, issued, verifications, refreshes, m.refreshReuse, revocations, revoked,
		keyOps, signDuration, verifyDuration, signingErrors, storeErrors, authz,
		m.revocationAge, m.clockOffset, propagation, m.activeSessions)
	return m
}

// resolve fills dst with vec's child for each of values, in order.
func resolve(vec *prometheus.CounterVec, dst []prometheus.Counter, values []string) {
	for i, v := range values {
		dst[i] = vec.WithLabelValues(v)
	}
}

// Login counts a password login by outcome: LoginSuccess,
// LoginBadCredentials, LoginThrottled or LoginError.
func (m *Metrics) Login(outcome string) {
	if m == nil {
		return
	}
	m.logins[index(loginOutcomes[:], outcome)].Inc()
}

// TokenIssued counts one signed token handed out: TokenAccess or
// TokenRefresh.
func (m *Metrics) TokenIssued(typ string) {
	if m == nil {
		return
	}
	m.tokensIssued[index(tokenTypes[:], typ)].Inc()
}

// Verification counts one credential verification. method is MethodJWT or
// MethodAPIKey; outcome is one of the Verify constants. This is the
// authentication decision; APIKeyOp's verify counts are the key manager's
// own tally and are recorded separately.
func (m *Metrics) Verification(method, outcome string) {
	if m == nil {
		return
	}
	m.verifications[index(verifyMethods[:], method)][index(verifyOutcomes[:], outcome)].Inc()
}

// Refresh counts one refresh-token exchange by outcome. RefreshReuseDetected
// also counts auth_refresh_reuse_detected_total, the series that
// dashboards and alerts use, so that an alert need not filter a label.
func (m *Metrics) Refresh(outcome string) {
	if m == nil {
		return
	}
	i := index(refreshOutcomes[:], outcome)
	m.refreshes[i].Inc()
	if refreshOutcomes[i] == RefreshReuseDetected {
		m.refreshReuse.Inc()
	}
}

// Revocation counts one revocation carried out, by scope: ScopeSession,
// ScopeSubject, ScopeTenant or ScopeGlobal. RevokedSessions counts the
// sessions it ended.
func (m *Metrics) Revocation(scope string) {
	if m == nil {
		return
	}
	m.revocations[index(revokeScopes[:], scope)].Inc()
}

// RevokedSessions counts n live sessions ended by a revocation of scope.
// n ≤ 0 records nothing (a counter never goes down).
func (m *Metrics) RevokedSessions(scope string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.revokedSessions[index(revokeScopes[:], scope)].Add(float64(n))
}

// APIKeyOp counts one API-key operation: one of the APIKey constants.
func (m *Metrics) APIKeyOp(op string) {
	if m == nil {
		return
	}
	m.apiKeyOps[index(apiKeyOps[:], op)].Inc()
}

// ObserveSign records how long signing one token with alg took.
func (m *Metrics) ObserveSign(alg string, d time.Duration) {
	if m == nil {
		return
	}
	m.signDuration[index(algs[:], alg)].Observe(d.Seconds())
}

// ObserveVerify records how long verifying one token signed with alg took.
func (m *Metrics) ObserveVerify(alg string, d time.Duration) {
	if m == nil {
		return
	}
	m.verifyDuration[index(algs[:], alg)].Observe(d.Seconds())
}

// SigningError counts one token that could not be signed with alg.
func (m *Metrics) SigningError(alg string) {
	if m == nil {
		return
	}
	m.signingErrors[index(algs[:], alg)].Inc()
}

// StoreError counts one failed store operation: backend is one of the
// Backend constants, op one of the Store constants. Count the store's own
// failures (unreachable, corrupt, timed out), not answers such as "not
// found" or "already exists".
func (m *Metrics) StoreError(backend, op string) {
	if m == nil {
		return
	}
	m.storeErrors[index(storeBackends[:], backend)][index(storeOps[:], op)].Inc()
}

// AuthorizationFailure counts one authenticated request refused, by
// reason: AuthzForbidden, AuthzNotFound or AuthzInsufficientScope.
func (m *Metrics) AuthorizationFailure(reason string) {
	if m == nil {
		return
	}
	m.authzFailures[index(authzReasons[:], reason)].Inc()
}

// SetRevocationStateAge sets how long ago this instance last confirmed its
// revocation state with the shared store. Set it on every tick of the
// loop that keeps the state current, whether or not the tick reached the
// store, so the gauge keeps growing while the store is unreachable.
func (m *Metrics) SetRevocationStateAge(d time.Duration) {
	if m == nil {
		return
	}
	m.revocationAge.Set(d.Seconds())
}

// SetClockOffset sets the last measured offset of Redis's clock from this
// instance's (Redis minus local).
func (m *Metrics) SetClockOffset(d time.Duration) {
	if m == nil {
		return
	}
	m.clockOffset.Set(d.Seconds())
}

// ObserveRevocationPropagation records how long a revocation made on
// another instance took to take effect on this one.
func (m *Metrics) ObserveRevocationPropagation(d time.Duration) {
	if m == nil {
		return
	}
	m.propagation.Observe(d.Seconds())
}

// ActiveSessionsFunc sets the function auth_active_sessions reports, such
// as a memory store's Len. It is called on every scrape, from the
// scraping goroutine, so it must be cheap and safe for concurrent use.
// Until a function is set, or after it is set to nil, the metric is absent
// rather than a misleading zero (a store with no cheap count sets none). A
// later call replaces the earlier function.
func (m *Metrics) ActiveSessionsFunc(f func() float64) {
	if m == nil {
		return
	}
	if f == nil {
		m.activeSessions.fn.Store(nil)
		return
	}
	m.activeSessions.fn.Store(&f)
}

// funcGauge is a gauge read from a function set after registration, so
// the metric set is fixed at New and the function can come later, from
// a store built after the metrics.
type funcGauge struct {
	desc *prometheus.Desc
	fn   atomic.Pointer[func() float64]
}

func (g *funcGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *funcGauge) Collect(ch chan<- prometheus.Metric) {
	if f := g.fn.Load(); f != nil {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, (*f)())
	}
}
