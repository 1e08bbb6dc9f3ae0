package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
)

func TestParseSentinelURL(t *testing.T) {
	tests := []struct {
		in      string
		addrs   []string
		master  string
		db      int
		user    string
		pass    string
		wantErr string
	}{
		{in: "redis-sentinel://s1:26379,s2:26379/mymaster", addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster"},
		{in: "redis-sentinel://u:p%40ss@s1:26379/m/3", addrs: []string{"s1:26379"}, master: "m", db: 3, user: "u", pass: "p@ss"},
		{in: "redis-sentinel://s1:26379", wantErr: "no master name"},
		{in: "redis-sentinel://s1/m", wantErr: "not host:port"},
		{in: "redis-sentinel://s1:1/m/x", wantErr: "not a number"},
	}
	for _, tt := range tests {
		opt, err := parseSentinelURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: %v, want %q", tt.in, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "p@ss") {
				t.Errorf("%s: the error shows the password", tt.in)
			}
			continue
		}
		if err != nil || strings.Join(opt.SentinelAddrs, ",") != strings.Join(tt.addrs, ",") || opt.MasterName != tt.master ||
			opt.DB != tt.db || opt.Username != tt.user || opt.Password != tt.pass {
			t.Errorf("%s: %+v %v", tt.in, opt, err)
		}
	}
}

// The server on a Sentinel-managed Redis: a real redis-server primary and
// a real sentinel watching it.
func TestEndToEndSentinel(t *testing.T) {
	primary := testredis.Start(t, 0, t.TempDir())
	sentinel := startSentinel(t, primary.Port)
	env := merge(baseEnv(), map[string]string{
		"SESSION_STORE_BACKEND": "redis",
		"REDIS_URL":             fmt.Sprintf("redis-sentinel://127.0.0.1:%d/relaymaster/0", sentinel),
	})
	base, _, _ := startRun(t, env)
	flow(t, base, e2ePassword)
}

// startSentinel runs a redis sentinel monitoring the primary on port and
// returns its port once it knows the primary.
func startSentinel(t *testing.T, primaryPort int) int {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH")
	}
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor relaymaster 127.0.0.1 %d 1\n", port, dir, primaryPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if addr, err := c.GetMasterAddrByName(context.Background(), "relaymaster").Result(); err == nil && len(addr) == 2 {
			return port
		}
		if time.Now().After(deadline) {
			t.Fatal("sentinel did not learn the primary within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A REDIS_URL that does not parse is refused without its password, in
// every form.
func TestParseRedisURLHidesPassword(t *testing.T) {
	const pw = "p4ss-Word-9x"
	for _, raw := range []string{
		"redis://user:" + pw + "@127.0.0.1:abc/0",
		"redis://user:" + pw + "@127.0.0.1:6379/x",
		"http://user:" + pw + "@x",
		"redis://u:" + pw + "@h1:7000,redis://u:" + pw + "@h2:7001",
		"h1:7000,h2:port",
		"redis-sentinel://u:" + pw + "@s1/m",
		"redis-sentinel://u:" + pw + "@s1:26379",
	} {
		_, err := parseRedisURL(raw)
		if err == nil {
			t.Errorf("%s: parsed", raw)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error shows the password: %v", raw, err)
		}
	}
	for _, raw := range []string{"redis://u:" + pw + "@127.0.0.1:6379/0", "h1:7000,h2:7001", "redis-sentinel://u:" + pw + "@s1:26379/m/1"} {
		if _, err := parseRedisURL(raw); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
