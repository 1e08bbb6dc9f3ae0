// Package safety is the ProductionSafetyValidator: it runs before the
// server starts and lists EVERY configuration that is unsafe for the
// environment, each with a fix. In production each is an error and the
// server refuses to start; in staging the same findings are warnings;
// development is left alone.
package safety

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/relayauth/relayauth/internal/config"
	"github.com/relayauth/relayauth/token"
)

// Severity says whether a finding stops the server.
type Severity int

const (
	// Warning is reported; the server starts.
	Warning Severity = iota
	// Error is reported and the server refuses to start.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "ERROR"
	}
	return "WARNING"
}

// Violation is one unsafe setting.
type Violation struct {
	Severity Severity
	Var      string // the environment variable at fault
	Problem  string // what is wrong; never the secret itself
	Fix      string // what to do about it
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s (fix: %s)", v.Severity, v.Var, v.Problem, v.Fix)
}

// Problem texts, as constants tests can match.
const (
	ProblemDebug            = "debug diagnostics are on"
	ProblemDemoMocks        = "demo principals are on"
	ProblemMockSigning      = "the mock signer is on"
	ProblemKeyMissing       = "no signing key"
	ProblemKeyShort         = "HS256 key is shorter than 32 bytes"
	ProblemKeyLowEntropy    = "signing key is not random (fewer than 16 distinct byte values)"
	ProblemKeyText          = "signing key is printable text, like a password, not random bytes"
	ProblemKeyKnownWeak     = "signing key is on the list of well-known secrets"
	ProblemAudience         = "no token audience"
	ProblemIssuer           = "no token issuer"
	ProblemMemoryStore      = "sessions kept in memory: lost on restart, invisible to other instances"
	ProblemAdminMissing     = "no admin password"
	ProblemAdminShort       = "admin password is shorter than 12 characters"
	ProblemAdminBlocked     = "admin password is on the list of common passwords"
	ProblemKeysFilePerms    = "API key file is readable or writable by group or others"
	ProblemMetricsUndecided = "metrics exposure not decided"
	ProblemConsole          = "the operator console is on: an admin sign-in page is served at /console/"
)

// MinAdminPasswordLen is the shortest admin password production accepts.
const MinAdminPasswordLen = 12

// Options let tests replace the file system look-up.
type Options struct {
	Stat func(name string) (fs.FileInfo, error)
}

// Check returns every violation of cfg for its environment, errors first.
func Check(cfg config.Config, opts ...Options) []Violation {
	var sev Severity
	switch cfg.Env {
	case config.Production:
		sev = Error
	case config.Staging:
		sev = Warning
	default:
		return nil
	}
	stat := os.Stat
	for _, o := range opts {
		if o.Stat != nil {
			stat = o.Stat
		}
	}
	var out []Violation
	add := func(v, problem, fix string) { out = append(out, Violation{sev, v, problem, fix}) }

	if cfg.Debug {
		add(config.EnvDebug, ProblemDebug, "unset RELAY_DEBUG or set it to false")
	}
	if cfg.DemoMocks {
		add(config.EnvDemoMocks, ProblemDemoMocks, "unset RELAY_DEMO_MOCKS or set it to false")
	}
	if cfg.MockSigning {
		add(config.EnvMockSigning, ProblemMockSigning, "unset RELAY_MOCK_SIGNING or set it to false")
	}
	for _, p := range keyProblems(cfg) {
		add(config.EnvSigningKey, p, "generate one: head -c 32 /dev/urandom | base64 (HS256), or a PKCS#8 key for EdDSA/ES256")
	}
	if cfg.Audience == "" {
		add(config.EnvAudience, ProblemAudience, "set JWT_AUDIENCE to the audience your services expect")
	}
	if cfg.Issuer == "" {
		add(config.EnvIssuer, ProblemIssuer, "set JWT_ISSUER to this service's issuer URL")
	}
	if cfg.SessionBackend == config.BackendMemory {
		add(config.EnvBackend, ProblemMemoryStore, "set SESSION_STORE_BACKEND=redis and REDIS_URL")
	}
	for _, p := range adminProblems(cfg.AdminPassword.Reveal()) {
		add(config.EnvAdminPassword, p, "set ADMIN_PASSWORD to a long random passphrase from a secret store")
	}
	if cfg.APIKeysFile != "" {
		if fi, err := stat(cfg.APIKeysFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			add(config.EnvAPIKeysFile, ProblemKeysFilePerms+fmt.Sprintf(" (mode %04o)", fi.Mode().Perm()),
				"chmod 600 "+cfg.APIKeysFile)
		}
	}
	if !cfg.MetricsDecided {
		add(config.EnvMetrics, ProblemMetricsUndecided, "set AUTH_SIGNING_METRICS_ENABLED=true (and restrict /metrics at the network) or =false")
	}
	if cfg.ConsoleEnabled {
		// Reported, not refused: an operator may want the console in
		// production, but should know it is there and keep it off the
		// public network.
		out = append(out, Violation{Warning, config.EnvConsole, ProblemConsole,
			"set CONSOLE_ENABLED=false, or serve /console/ only on an operators' network behind TLS"})
	}
	return out
}

// Blocking reports whether any violation stops the server.
func Blocking(vs []Violation) bool {
	for _, v := range vs {
		if v.Severity == Error {
			return true
		}
	}
	return false
}

func keyProblems(cfg config.Config) []string {
	key := []byte(cfg.SigningKey.Reveal())
	if len(key) == 0 {
		return []string{ProblemKeyMissing}
	}
	if cfg.SigningAlg != config.AlgHS256 {
		return nil // a PKCS#8 key is checked by parsing it
	}
	// One finding per key, the most telling first.
	if knownWeakSecret(key) {
		return []string{ProblemKeyKnownWeak}
	}
	switch err := token.CheckHS256Secret(key); {
	case errors.Is(err, token.ErrSecretShort):
		return []string{ProblemKeyShort}
	case errors.Is(err, token.ErrSecretNotRandom):
		return []string{ProblemKeyLowEntropy}
	case errors.Is(err, token.ErrSecretText):
		return []string{ProblemKeyText}
	case err != nil:
		return []string{err.Error()}
	}
	return nil
}

func adminProblems(pw string) []string {
	switch {
	case pw == "":
		return []string{ProblemAdminMissing}
	case commonPassword(pw):
		return []string{ProblemAdminBlocked}
	case len([]rune(pw)) < MinAdminPasswordLen:
		return []string{ProblemAdminShort}
	}
	return nil
}

// knownWeakSecret reports whether key is, or merely repeats, a secret
// published in tutorials, framework defaults or leaked examples.
func knownWeakSecret(key []byte) bool {
	k := strings.ToLower(string(key))
	for _, weak := range weakSecrets {
		if k == weak || (len(k)%len(weak) == 0 && k == strings.Repeat(weak, len(k)/len(weak))) {
			return true
		}
	}
	return false
}

// weakSecrets is a small list of secrets that appear in tutorials and
// framework defaults; lower case.
var weakSecrets = []string{
	"secret", "changeme", "change-me", "changeit", "password", "your-256-bit-secret",
	"your-secret-key", "supersecret", "supersecretkey", "super-secret-key", "mysecret",
	"secretkey", "jwtsecret", "jwt-secret", "default", "development", "test", "0123456789",
	"0123456789abcdef", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "relayauth",
	"this-is-a-very-long-secret-key-for-jwt", "keyboard cat", "shhhhh",
}

// commonPasswords is a small blocklist (NIST SP 800-63B §3.1.1.2): the
// most common passwords and the ones operators reach for on a new box.
var commonPasswords = []string{
	"password", "password1", "password123", "123456", "12345678", "123456789", "1234567890",
	"qwerty", "qwertyuiop", "admin", "admin123", "administrator", "letmein", "welcome",
	"changeme", "changeme123", "secret", "root", "toor", "iloveyou", "passw0rd", "p@ssw0rd",
	"correct horse battery staple", "relayauth", "relayauth-admin", "trustno1",
}

func commonPassword(pw string) bool {
	lower := strings.ToLower(pw)
	for _, c := range commonPasswords {
		if lower == c {
			return true
		}
	}
	return false
}
