package metrics

// The label values each method accepts. Any other value is recorded as
// Other: it is counted, never dropped, and never becomes a new series.

// Other is the label value recorded for a value outside a label's set.
const Other = "other"

// Outcomes of a login, for Login.
const (
	LoginSuccess        = "success"
	LoginBadCredentials = "bad_credentials" // unknown user or wrong password
	LoginThrottled      = "throttled"
	LoginError          = "error" // the login could not be decided (hashing or store failure)
)

// Token types, for TokenIssued.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Credential kinds and outcomes of a verification, for Verification.
const (
	MethodJWT    = "jwt"
	MethodAPIKey = "api_key"

	VerifySuccess     = "success"
	VerifyInvalid     = "invalid" // malformed, bad signature, wrong issuer, audience or type, unknown
	VerifyRevoked     = "revoked"
	VerifyExpired     = "expired"
	VerifyUnavailable = "unavailable" // the store could not vouch for it: failed closed
)

// Outcomes of a refresh, for Refresh.
const (
	RefreshSuccess       = "success"
	RefreshInvalid       = "invalid"
	RefreshReuseDetected = "reuse_detected" // a dead refresh token presented again: the session is revoked
	RefreshUnavailable   = "unavailable"
)

// Scopes of a revocation, for Revocation and RevokedSessions.
const (
	ScopeSession = "session" // one session: logout, DELETE /auth/sessions/{id}, refresh reuse
	ScopeSubject = "subject" // a subject of a tenant
	ScopeTenant  = "tenant"
	ScopeGlobal  = "global" // everything
)

// API-key operations, for APIKeyOp.
const (
	APIKeyCreate        = "create"
	APIKeyRotate        = "rotate"
	APIKeyRevoke        = "revoke"
	APIKeyVerifySuccess = "verify_success"
	APIKeyVerifyFailure = "verify_failure"
)

// Signing algorithms, for ObserveSign, ObserveVerify and SigningError.
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// Store backends and operations, for StoreError. The operations name what
// was attempted, not the method: the three mass revocations are all
// StoreRevoke, and a Redis instance refreshing its local mirror is
// StoreSync.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	BackendFile   = "file"

	StoreCreate = "create"
	StoreGet    = "get"
	StoreList   = "list"
	StoreRotate = "rotate"
	StoreRevoke = "revoke"
	StoreCheck  = "check"
	StorePing   = "ping"
	StoreSync   = "sync" // refreshing a local mirror of shared state
	StoreLoad   = "load" // reading a file-backed store
	StoreSave   = "save" // writing a file-backed store
)

// Reasons an authenticated caller was refused, for AuthorizationFailure.
const (
	AuthzForbidden         = "forbidden"
	AuthzNotFound          = "not_found" // another tenant's object, answered as absent
	AuthzInsufficientScope = "insufficient_scope"
)

// Each label's values, in the order of the arrays that hold their series.
// Other is always last: index returns it for anything not listed.
var (
	loginOutcomes   = [...]string{LoginSuccess, LoginBadCredentials, LoginThrottled, LoginError, Other}
	tokenTypes      = [...]string{TokenAccess, TokenRefresh, Other}
	verifyMethods   = [...]string{MethodJWT, MethodAPIKey, Other}
	verifyOutcomes  = [...]string{VerifySuccess, VerifyInvalid, VerifyRevoked, VerifyExpired, VerifyUnavailable, Other}
	refreshOutcomes = [...]string{RefreshSuccess, RefreshInvalid, RefreshReuseDetected, RefreshUnavailable, Other}
	revokeScopes    = [...]string{ScopeSession, ScopeSubject, ScopeTenant, ScopeGlobal, Other}
	apiKeyOps       = [...]string{APIKeyCreate, APIKeyRotate, APIKeyRevoke, APIKeyVerifySuccess, APIKeyVerifyFailure, Other}
	algs            = [...]string{AlgHS256, AlgEdDSA, AlgES256, Other}
	storeBackends   = [...]string{BackendMemory, BackendRedis, BackendFile, Other}
	storeOps        = [...]string{StoreCreate, StoreGet, StoreList, StoreRotate, StoreRevoke, StoreCheck, StorePing, StoreSync, StoreLoad, StoreSave, Other}
	authzReasons    = [...]string{AuthzForbidden, AuthzNotFound, AuthzInsufficientScope, Other}
)

// index returns v's position in values, or the last position (Other) when
// v is not there. The sets are a handful of short strings, so a linear
// scan (a length compare, then a memcmp) beats hashing.
func index(values []string, v string) int {
	last := len(values) - 1
	for i, s := range values[:last] {
		if s == v {
			return i
		}
	}
	return last
}
