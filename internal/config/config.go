// Package config loads Relay Auth's configuration from the environment in
// three steps — Load (parse), defaults, Validate — and reports every
// problem at once, each naming its variable, so an operator fixes a bad
// deployment in one pass instead of one restart per mistake.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayauth/relayauth"
)

// Environment names accepted in RELAY_ENV.
const (
	Development = "development"
	Staging     = "staging"
	Production  = "production"
)

// Session store backends accepted in SESSION_STORE_BACKEND.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// Signing algorithms accepted in JWT_SIGNING_ALG.
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// MinHS256KeyBytes is the shortest HS256 secret accepted (RFC 7518 §3.2).
const MinHS256KeyBytes = 32

// Error texts are constants so tests and operators can match them.
const (
	errRequired      = "is required"
	errBase64        = "must be base64 (standard or URL alphabet, padded or not)"
	errShortKey      = "must decode to at least 32 bytes for HS256"
	errBool          = "must be true or false"
	errDuration      = "must be a Go duration such as 90s, 15m or 24h"
	errPositive      = "must be positive"
	errCacheSize     = "must be a whole number from 0 (off) to 1000000"
	errHeapFloor     = "must be a whole number of MiB from 0 (off) to 1048576"
	errOneOf         = "must be one of"
	errAddr          = "must be host:port"
	errTTLOrder      = "must not exceed"
	errRedisRequired = "is required when SESSION_STORE_BACKEND=redis"
	errPrefixBrace   = "must not contain { or }: Redis Cluster reads braces as a hash tag"
	errSkew          = "must be at most 30s (revocation epochs are forgotten a minute after SESSION_TTL, which covers clocks this far apart)"
)

// Config is the whole server configuration. Secrets are relayauth.Secret
// so that printing a Config never shows them.
type Config struct {
	Env        string
	ListenAddr string

	SigningKey    relayauth.Secret // decoded key material: HS256 secret or PKCS#8 DER
	SigningAlg    string
	PreviousKeys  []relayauth.Secret // decoded, verify-only keys from an earlier rotation
	Audience      string
	Issuer        string
	AdminPassword relayauth.Secret

	SessionBackend string
	RedisURL       string
	RedisPrefix    string
	APIKeysFile    string

	MetricsEnabled bool
	// MetricsDecided records that AUTH_SIGNING_METRICS_ENABLED was set at
	// all: production wants an explicit decision either way.
	MetricsDecided bool
	Debug          bool
	DemoMocks      bool
	MockSigning    bool
	// ConsoleEnabled serves the operator console at /console/. Off unless
	// set (serve --dev sets it); in production the safety report names it.
	ConsoleEnabled bool

	// AccessTTL is the lifetime of an access token (minutes). RefreshTTL is
	// the idle timeout: a session not refreshed for this long ends.
	// SessionTTL is the absolute timeout: no session outlives it.
	// RevocationSLA bounds how stale an instance's revocation state may be
	// before it fails closed.
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	SessionTTL    time.Duration
	RevocationSLA time.Duration
	// ClockSkewTolerance is how far this instance's clock may be from
	// Redis's before it reports itself not ready (Redis deployments).
	ClockSkewTolerance time.Duration

	// TokenCacheSize is how many verified access tokens the verifier remembers
	// to skip their signature and parse when they come again
	// (token.WithCache); 0 turns that off.
	TokenCacheSize int
	tokenCacheSet  bool // TOKEN_CACHE_SIZE was given, or the default applied

	// GCHeapFloorMiB is the least heap goal the garbage collector is given
	// (internal/gcfloor), in MiB; 0 leaves GOGC alone, and so does a GOGC
	// in the environment.
	GCHeapFloorMiB int
	gcHeapFloorSet bool
}

// Defaults for everything that has one.
const (
	DefaultListenAddr    = "127.0.0.1:8080"
	DefaultAccessTTL     = 5 * time.Minute
	DefaultRefreshTTL    = 24 * time.Hour
	DefaultSessionTTL    = 7 * 24 * time.Hour
	DefaultRevocationSLA = 5 * time.Second
	// DefaultClockSkewTolerance keeps any two instances within 1 s of each
	// other; MaxClockSkewTolerance stays well inside the grace after which
	// revocation epochs are forgotten (session.EpochGrace).
	DefaultClockSkewTolerance = 500 * time.Millisecond
	MaxClockSkewTolerance     = 30 * time.Second
	// DefaultTokenCacheSize remembers this many verified tokens, about
	// 10 MB: every user and service active within an access token's life
	// at a mid-sized deployment.
	DefaultTokenCacheSize = 10_000
	MaxTokenCacheSize     = 1_000_000
	// DefaultGCHeapFloorMiB lets a small heap grow to 64 MiB between
	// collections instead of ~4 MB: at tens of thousands of requests a
	// second, far fewer GC cycles on the request path.
	DefaultGCHeapFloorMiB = 64
	MaxGCHeapFloorMiB     = 1 << 20
	DefaultRedisPrefix    = "relayauth:"
	DefaultDevIssuer      = "relayauth-dev"
	DefaultDevAudience    = "relayauth-dev"
)

// Variable names, in one place.
const (
	EnvRelayEnv      = "RELAY_ENV"
	EnvListenAddr    = "LISTEN_ADDR"
	EnvSigningKey    = "JWT_SIGNING_KEY"
	EnvSigningAlg    = "JWT_SIGNING_ALG"
	EnvPreviousKeys  = "JWT_PREVIOUS_SIGNING_KEYS"
	EnvAudience      = "JWT_AUDIENCE"
	EnvIssuer        = "JWT_ISSUER"
	EnvBackend       = "SESSION_STORE_BACKEND"
	EnvRedisURL      = "REDIS_URL"
	EnvRedisPrefix   = "REDIS_KEY_PREFIX"
	EnvAdminPassword = "ADMIN_PASSWORD"
	EnvAPIKeysFile   = "API_KEYS_FILE"
	EnvMetrics       = "AUTH_SIGNING_METRICS_ENABLED"
	EnvDebug         = "RELAY_DEBUG"
	EnvDemoMocks     = "RELAY_DEMO_MOCKS"
	EnvMockSigning   = "RELAY_MOCK_SIGNING"
	EnvAccessTTL     = "ACCESS_TOKEN_TTL"
	EnvRefreshTTL    = "REFRESH_TOKEN_TTL"
	EnvSessionTTL    = "SESSION_TTL"
	EnvRevocationSLA = "REVOCATION_SLA"
	EnvTokenCache    = "TOKEN_CACHE_SIZE"
	EnvConsole       = "CONSOLE_ENABLED"
	EnvClockSkew     = "CLOCK_SKEW_TOLERANCE"
	EnvGCHeapFloor   = "GC_HEAP_FLOOR_MIB"
)

// Problem is one configuration error, tied to its variable.
type Problem struct {
	Var string
	Msg string
}

func (p *Problem) Error() string { return p.Var + " " + p.Msg }

// Load parses the environment through getenv. It fills no defaults and
// judges no combinations: that is Defaults' and Validate's work. The
// returned error joins one *Problem per malformed variable.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	bad := func(v, msg string) { errs = append(errs, &Problem{v, msg}) }

	c.Env = strings.TrimSpace(getenv(EnvRelayEnv))
	c.ListenAddr = strings.TrimSpace(getenv(EnvListenAddr))
	c.SigningAlg = strings.TrimSpace(getenv(EnvSigningAlg))
	c.Audience = strings.TrimSpace(getenv(EnvAudience))
	c.Issuer = strings.TrimSpace(getenv(EnvIssuer))
	c.SessionBackend = strings.TrimSpace(getenv(EnvBackend))
	c.RedisURL = strings.TrimSpace(getenv(EnvRedisURL))
	c.RedisPrefix = strings.TrimSpace(getenv(EnvRedisPrefix))
	c.APIKeysFile = strings.TrimSpace(getenv(EnvAPIKeysFile))
	c.AdminPassword = relayauth.Secret(getenv(EnvAdminPassword))

	if v := strings.TrimSpace(getenv(EnvSigningKey)); v != "" {
		key, err := DecodeKey(v)
		if err != nil {
			bad(EnvSigningKey, errBase64)
		} else {
			c.SigningKey = relayauth.Secret(key)
		}
	}
	if v := strings.TrimSpace(getenv(EnvPreviousKeys)); v != "" {
		for i, part := range strings.Split(v, ",") {
			key, err := DecodeKey(strings.TrimSpace(part))
			if err != nil {
				bad(EnvPreviousKeys, fmt.Sprintf("entry %d %s", i+1, errBase64))
				continue
			}
			c.PreviousKeys = append(c.PreviousKeys, relayauth.Secret(key))
		}
	}
	c.MetricsDecided = strings.TrimSpace(getenv(EnvMetrics)) != ""
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{EnvMetrics, &c.MetricsEnabled}, {EnvDebug, &c.Debug},
		{EnvDemoMocks, &c.DemoMocks}, {EnvMockSigning, &c.MockSigning},
		{EnvConsole, &c.ConsoleEnabled},
	} {
		v := strings.TrimSpace(getenv(b.name))
		if v == "" {
			continue
		}
		parsed, err := strconv.ParseBool(v)
		if err != nil {
			bad(b.name, errBool)
			continue
		}
		*b.dst = parsed
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{EnvAccessTTL, &c.AccessTTL}, {EnvRefreshTTL, &c.RefreshTTL},
		{EnvSessionTTL, &c.SessionTTL}, {EnvRevocationSLA, &c.RevocationSLA},
		{EnvClockSkew, &c.ClockSkewTolerance},
	} {
		v := strings.TrimSpace(getenv(d.name))
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad(d.name, errDuration)
		case parsed <= 0:
			bad(d.name, errPositive)
		default:
			*d.dst = parsed
		}
	}
	if v := strings.TrimSpace(getenv(EnvTokenCache)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxTokenCacheSize {
			bad(EnvTokenCache, errCacheSize)
		} else {
			c.TokenCacheSize, c.tokenCacheSet = n, true
		}
	}
	if v := strings.TrimSpace(getenv(EnvGCHeapFloor)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxGCHeapFloorMiB {
			bad(EnvGCHeapFloor, errHeapFloor)
		} else {
			c.GCHeapFloorMiB, c.gcHeapFloorSet = n, true
		}
	}
	return c, errors.Join(errs...)
}

// DecodeKey decodes base64 in the standard or URL alphabet, padded or not.
func DecodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New(errBase64)
}

// WithDefaults returns c with every unset field that has a default filled in.
func (c Config) WithDefaults() Config {
	if c.Env == "" {
		c.Env = Development
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.SigningAlg == "" {
		c.SigningAlg = AlgHS256
	}
	if c.SessionBackend == "" {
		c.SessionBackend = BackendMemory
	}
	if c.Env != Production {
		if c.Issuer == "" {
			c.Issuer = DefaultDevIssuer
		}
		if c.Audience == "" {
			c.Audience = DefaultDevAudience
		}
	}
	if c.RedisPrefix == "" {
		c.RedisPrefix = DefaultRedisPrefix
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.RevocationSLA == 0 {
		c.RevocationSLA = DefaultRevocationSLA
	}
	if c.ClockSkewTolerance == 0 {
		c.ClockSkewTolerance = DefaultClockSkewTolerance
	}
	if !c.tokenCacheSet {
		c.TokenCacheSize, c.tokenCacheSet = DefaultTokenCacheSize, true
	}
	if !c.gcHeapFloorSet {
		c.GCHeapFloorMiB, c.gcHeapFloorSet = DefaultGCHeapFloorMiB, true
	}
	return c
}

// Validate judges a defaulted Config and returns every problem at once.
// It covers what makes a configuration unusable in any environment; the
// production hardening rules build on it.
func (c Config) Validate() error {
	var errs []error
	bad := func(v, msg string) { errs = append(errs, &Problem{v, msg}) }

	if !oneOf(c.Env, Development, Staging, Production) {
		bad(EnvRelayEnv, errOneOf+" development, staging, production")
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		bad(EnvListenAddr, errAddr)
	}
	if !oneOf(c.SigningAlg, AlgHS256, AlgEdDSA, AlgES256) {
		bad(EnvSigningAlg, errOneOf+" HS256, EdDSA, ES256")
	}
	switch {
	case len(c.SigningKey) == 0:
		bad(EnvSigningKey, errRequired)
	case c.SigningAlg == AlgHS256 && len(c.SigningKey) < MinHS256KeyBytes:
		bad(EnvSigningKey, errShortKey)
	}
	if c.Issuer == "" {
		bad(EnvIssuer, errRequired)
	}
	if c.Audience == "" {
		bad(EnvAudience, errRequired)
	}
	if c.AdminPassword == "" {
		bad(EnvAdminPassword, errRequired)
	}
	if !oneOf(c.SessionBackend, BackendMemory, BackendRedis) {
		bad(EnvBackend, errOneOf+" memory, redis")
	}
	if c.SessionBackend == BackendRedis && c.RedisURL == "" {
		bad(EnvRedisURL, errRedisRequired)
	}
	if strings.ContainsAny(c.RedisPrefix, "{}") {
		bad(EnvRedisPrefix, errPrefixBrace)
	}
	if c.AccessTTL > c.RefreshTTL {
		bad(EnvAccessTTL, errTTLOrder+" "+EnvRefreshTTL)
	}
	if c.RefreshTTL > c.SessionTTL {
		bad(EnvRefreshTTL, errTTLOrder+" "+EnvSessionTTL)
	}
	if c.ClockSkewTolerance > MaxClockSkewTolerance {
		bad(EnvClockSkew, errSkew)
	}
	return errors.Join(errs...)
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

// Check runs load → defaults → validate and returns the defaulted Config
// with every problem of both steps, one per variable: a variable that did
// not parse is not judged again by Validate.
func Check(getenv func(string) string) (Config, error) {
	cfg, loadErr := Load(getenv)
	cfg = cfg.WithDefaults()
	errs := problemsOf(loadErr)
	seen := map[string]bool{}
	for _, p := range errs {
		seen[p.(*Problem).Var] = true
	}
	for _, p := range problemsOf(cfg.Validate()) {
		if !seen[p.(*Problem).Var] {
			errs = append(errs, p)
		}
	}
	return cfg, errors.Join(errs...)
}

// Problems splits a joined configuration error into its problems.
func Problems(err error) []error { return problemsOf(err) }

func problemsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
