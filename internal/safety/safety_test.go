package safety

import (
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/internal/config"
)

func randomKey(t *testing.T) relayauth.Secret {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return relayauth.Secret(b)
}

// safeProduction is a production configuration with no violation.
func safeProduction(t *testing.T) config.Config {
	return config.Config{
		Env: config.Production, SigningAlg: config.AlgHS256, SigningKey: randomKey(t),
		Audience: "orders", Issuer: "https://auth.example", SessionBackend: config.BackendRedis,
		RedisURL: "redis://r:6379/0", AdminPassword: "a-long-random-passphrase-9f3k",
		MetricsDecided: true,
	}
}

func TestEachViolationAlone(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*config.Config)
		wantVar string
		want    string
	}{
		{"debug", func(c *config.Config) { c.Debug = true }, config.EnvDebug, ProblemDebug},
		{"demo mocks", func(c *config.Config) { c.DemoMocks = true }, config.EnvDemoMocks, ProblemDemoMocks},
		{"mock signing", func(c *config.Config) { c.MockSigning = true }, config.EnvMockSigning, ProblemMockSigning},
		{"missing key", func(c *config.Config) { c.SigningKey = "" }, config.EnvSigningKey, ProblemKeyMissing},
		{"short key", func(c *config.Config) { c.SigningKey = c.SigningKey[:31] }, config.EnvSigningKey, ProblemKeyShort},
		{"low entropy key", func(c *config.Config) { c.SigningKey = relayauth.Secret(strings.Repeat("\x00\x01", 16)) }, config.EnvSigningKey, ProblemKeyLowEntropy},
		{"password as key", func(c *config.Config) { c.SigningKey = "Tr0ub4dor&3-correct-horse-battery-staple" }, config.EnvSigningKey, ProblemKeyText},
		{"well-known key", func(c *config.Config) { c.SigningKey = relayauth.Secret(strings.Repeat("changeme", 4)) }, config.EnvSigningKey, ProblemKeyKnownWeak},
		{"no audience", func(c *config.Config) { c.Audience = "" }, config.EnvAudience, ProblemAudience},
		{"no issuer", func(c *config.Config) { c.Issuer = "" }, config.EnvIssuer, ProblemIssuer},
		{"memory store", func(c *config.Config) { c.SessionBackend = config.BackendMemory }, config.EnvBackend, ProblemMemoryStore},
		{"no admin password", func(c *config.Config) { c.AdminPassword = "" }, config.EnvAdminPassword, ProblemAdminMissing},
		{"short admin password", func(c *config.Config) { c.AdminPassword = "x8#kL2!q" }, config.EnvAdminPassword, ProblemAdminShort},
		{"common admin password", func(c *config.Config) { c.AdminPassword = "Password123" }, config.EnvAdminPassword, ProblemAdminBlocked},
		{"metrics undecided", func(c *config.Config) { c.MetricsDecided = false }, config.EnvMetrics, ProblemMetricsUndecided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := safeProduction(t)
			tt.mutate(&cfg)
			vs := Check(cfg)
			if len(vs) != 1 {
				t.Fatalf("want exactly one violation, got %v", vs)
			}
			v := vs[0]
			if v.Var != tt.wantVar || !strings.HasPrefix(v.Problem, tt.want) || v.Severity != Error || v.Fix == "" {
				t.Fatalf("got %+v", v)
			}
			if key := cfg.SigningKey.Reveal(); key != "" && strings.Contains(v.String(), key) {
				t.Fatal("a violation prints the secret")
			}
			if pw := cfg.AdminPassword.Reveal(); pw != "" && strings.Contains(v.String(), pw) {
				t.Fatal("a violation prints the admin password")
			}
			// Staging: the same finding, as a warning.
			cfg.Env = config.Staging
			if vs := Check(cfg); len(vs) != 1 || vs[0].Severity != Warning || Blocking(vs) {
				t.Fatalf("staging: %v", vs)
			}
			// Development: not this validator's business.
			cfg.Env = config.Development
			if vs := Check(cfg); len(vs) != 0 {
				t.Fatalf("development: %v", vs)
			}
		})
	}
}

// The console in production is reported but does not stop the server: an
// operator may want it there, and must know it is.
func TestConsoleIsReported(t *testing.T) {
	for _, env := range []string{config.Production, config.Staging} {
		cfg := safeProduction(t)
		cfg.Env, cfg.ConsoleEnabled = env, true
		vs := Check(cfg)
		if len(vs) != 1 || vs[0].Var != config.EnvConsole || vs[0].Problem != ProblemConsole || vs[0].Severity != Warning || vs[0].Fix == "" || Blocking(vs) {
			t.Errorf("%s: %v", env, vs)
		}
	}
	cfg := safeProduction(t)
	cfg.Env, cfg.ConsoleEnabled = config.Development, true
	if vs := Check(cfg); len(vs) != 0 {
		t.Errorf("development: %v", vs)
	}
}

func TestSafeProductionPasses(t *testing.T) {
	if vs := Check(safeProduction(t)); len(vs) != 0 {
		t.Fatalf("%v", vs)
	}
}

func TestEveryViolationAtOnce(t *testing.T) {
	cfg := config.Config{Env: config.Production, SigningAlg: config.AlgHS256, SessionBackend: config.BackendMemory,
		Debug: true, DemoMocks: true, MockSigning: true}
	vs := Check(cfg)
	want := []string{config.EnvDebug, config.EnvDemoMocks, config.EnvMockSigning, config.EnvSigningKey, config.EnvAudience,
		config.EnvIssuer, config.EnvBackend, config.EnvAdminPassword, config.EnvMetrics}
	if len(vs) != len(want) || !Blocking(vs) {
		t.Fatalf("got %d violations, want %d: %v", len(vs), len(want), vs)
	}
	for i, v := range vs {
		if v.Var != want[i] {
			t.Errorf("violation %d names %s, want %s", i, v.Var, want[i])
		}
	}
}

func TestAPIKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := safeProduction(t)
	cfg.APIKeysFile = path
	vs := Check(cfg)
	if len(vs) != 1 || vs[0].Var != config.EnvAPIKeysFile || !strings.Contains(vs[0].Problem, "0644") {
		t.Fatalf("loose file: %v", vs)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if vs := Check(cfg); len(vs) != 0 {
		t.Fatalf("0600 file: %v", vs)
	}
	// A file that does not exist yet is created 0600 by the store.
	cfg.APIKeysFile = filepath.Join(dir, "new.json")
	if vs := Check(cfg, Options{Stat: func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }}); len(vs) != 0 {
		t.Fatalf("missing file: %v", vs)
	}
}

func TestKnownWeakSecrets(t *testing.T) {
	for _, k := range []string{"your-256-bit-secret", "secretsecretsecretsecretsecretsecret", "SUPERSECRETKEY"} {
		if !knownWeakSecret([]byte(k)) {
			t.Errorf("%q not recognised", k)
		}
	}
	if knownWeakSecret([]byte("a-perfectly-unique-value")) {
		t.Error("false positive")
	}
}
