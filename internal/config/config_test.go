package config

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var key32 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestDecodeKey(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0xfe, 0x00, 0x01, 0x02, 0x03}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := DecodeKey(enc.EncodeToString(raw))
		if err != nil || string(got) != string(raw) {
			t.Errorf("%v: %x %v", enc, got, err)
		}
	}
	for _, bad := range []string{"not base64!", "a", "ab=c", " YWJj"} {
		if _, err := DecodeKey(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	good := map[string]string{EnvSigningKey: key32, EnvAdminPassword: "pw"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range good {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name string
		env  map[string]string
		vars []string // the variables the problems must name, in any order
	}{
		{"defaults suffice in development", good, nil},
		{"nothing set", map[string]string{}, []string{EnvSigningKey, EnvAdminPassword}},
		{"short HS256 key", with(map[string]string{EnvSigningKey: base64.StdEncoding.EncodeToString(make([]byte, 31))}), []string{EnvSigningKey}},
		{"bad base64 is one problem, not two", with(map[string]string{EnvSigningKey: "%%%"}), []string{EnvSigningKey}},
		{"bools", with(map[string]string{EnvDebug: "yes please", EnvMetrics: "1"}), []string{EnvDebug}},
		{"durations", with(map[string]string{EnvAccessTTL: "-5m", EnvRefreshTTL: "forever"}), []string{EnvAccessTTL, EnvRefreshTTL}},
		{"ttl order", with(map[string]string{EnvRefreshTTL: "200h"}), []string{EnvRefreshTTL}},
		{"production needs iss and aud", with(map[string]string{EnvRelayEnv: Production}), []string{EnvIssuer, EnvAudience}},
		{"unknown alg, env, backend, bad addr", with(map[string]string{EnvSigningAlg: "RS256", EnvRelayEnv: "qa", EnvBackend: "sql", EnvListenAddr: "8080"}),
			[]string{EnvSigningAlg, EnvRelayEnv, EnvBackend, EnvListenAddr}},
		{"redis needs a url", with(map[string]string{EnvBackend: BackendRedis}), []string{EnvRedisURL}},
		{"redis key prefix with a brace", with(map[string]string{EnvRedisPrefix: "{relay}:"}), []string{EnvRedisPrefix}},
		{"bad previous key", with(map[string]string{EnvPreviousKeys: key32 + ",!!"}), []string{EnvPreviousKeys}},
		{"token cache off", with(map[string]string{EnvTokenCache: "0"}), nil},
		{"token cache at its bound", with(map[string]string{EnvTokenCache: "1000000"}), nil},
		{"token cache negative", with(map[string]string{EnvTokenCache: "-1"}), []string{EnvTokenCache}},
		{"token cache over its bound", with(map[string]string{EnvTokenCache: "1000001"}), []string{EnvTokenCache}},
		{"console not a bool", with(map[string]string{EnvConsole: "on"}), []string{EnvConsole}},
		{"token cache not a number", with(map[string]string{EnvTokenCache: "10k"}), []string{EnvTokenCache}},
		{"GC heap floor off", with(map[string]string{EnvGCHeapFloor: "0"}), nil},
		{"GC heap floor at its bound", with(map[string]string{EnvGCHeapFloor: "1048576"}), nil},
		{"GC heap floor negative", with(map[string]string{EnvGCHeapFloor: "-1"}), []string{EnvGCHeapFloor}},
		{"GC heap floor over its bound", with(map[string]string{EnvGCHeapFloor: "1048577"}), []string{EnvGCHeapFloor}},
		{"GC heap floor with a unit", with(map[string]string{EnvGCHeapFloor: "64MiB"}), []string{EnvGCHeapFloor}},
		{"clock skew tolerance at its bound", with(map[string]string{EnvClockSkew: "30s"}), nil},
		{"clock skew tolerance over its bound", with(map[string]string{EnvClockSkew: "31s"}), []string{EnvClockSkew}},
		{"clock skew tolerance not positive", with(map[string]string{EnvClockSkew: "0s"}), []string{EnvClockSkew}},
		{"clock skew tolerance not a duration", with(map[string]string{EnvClockSkew: "2"}), []string{EnvClockSkew}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(env(tt.env))
			var got []string
			for _, e := range problemsOf(err) {
				var p *Problem
				if !errors.As(e, &p) {
					t.Fatalf("%v is not a *Problem", e)
				}
				got = append(got, p.Var)
			}
			if strings.Join(sorted(got), ",") != strings.Join(sorted(tt.vars), ",") {
				t.Fatalf("problems name %v, want %v (%v)", got, tt.vars, err)
			}
		})
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestDefaults(t *testing.T) {
	c, err := Check(env(map[string]string{EnvSigningKey: key32, EnvAdminPassword: "pw", EnvAccessTTL: "90s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Development || c.ListenAddr != DefaultListenAddr || c.SigningAlg != AlgHS256 || c.SessionBackend != BackendMemory ||
		c.AccessTTL != 90*time.Second || c.RefreshTTL != DefaultRefreshTTL || c.SessionTTL != DefaultSessionTTL ||
		c.Issuer != DefaultDevIssuer || c.Audience != DefaultDevAudience || len(c.SigningKey) != 32 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.ConsoleEnabled {
		t.Fatal("the console is on by default")
	}
	if c.ClockSkewTolerance != DefaultClockSkewTolerance {
		t.Fatalf("clock skew tolerance %v by default, want %v", c.ClockSkewTolerance, DefaultClockSkewTolerance)
	}
	if c.TokenCacheSize != DefaultTokenCacheSize {
		t.Fatalf("token cache size %d by default, want %d", c.TokenCacheSize, DefaultTokenCacheSize)
	}
	if c.GCHeapFloorMiB != DefaultGCHeapFloorMiB {
		t.Fatalf("GC heap floor %d MiB by default, want %d", c.GCHeapFloorMiB, DefaultGCHeapFloorMiB)
	}
	for in, want := range map[string]int{"0": 0, "512": 512} {
		c, err := Check(env(map[string]string{EnvSigningKey: key32, EnvAdminPassword: "pw", EnvGCHeapFloor: in}))
		if err != nil || c.GCHeapFloorMiB != want || c.WithDefaults().GCHeapFloorMiB != want {
			t.Fatalf("GC_HEAP_FLOOR_MIB=%s: %d, %v; want %d", in, c.GCHeapFloorMiB, err, want)
		}
	}
	for in, want := range map[string]int{"0": 0, "250": 250} {
		c, err := Check(env(map[string]string{EnvSigningKey: key32, EnvAdminPassword: "pw", EnvTokenCache: in}))
		if err != nil || c.TokenCacheSize != want {
			t.Fatalf("TOKEN_CACHE_SIZE=%s: %d, %v; want %d", in, c.TokenCacheSize, err, want)
		}
		if c.WithDefaults().TokenCacheSize != want {
			t.Fatalf("TOKEN_CACHE_SIZE=%s: defaults applied twice change it", in)
		}
	}
	if s := strings.Join([]string{c.SigningKey.String(), c.AdminPassword.String()}, " "); strings.Contains(s, "0123") || strings.Contains(s, "pw") {
		t.Fatal("a secret prints")
	}
}
