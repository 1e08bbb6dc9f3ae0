package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayauth/relayauth/internal/testredis"
)

func callWithKey(t *testing.T, base, method, path, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// generateAdmin runs `relayauth keys generate-admin` and returns the key.
func generateAdmin(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out, errw bytes.Buffer
	if err := run(context.Background(), append([]string{"keys", "generate-admin"}, args...), envFunc(env), nil, &out, &errw); err != nil {
		t.Fatalf("generate-admin: %v\n%s", err, errw.String())
	}
	key := strings.TrimSpace(out.String())
	if !strings.HasPrefix(key, "rk_test_") || strings.Contains(errw.String(), key) {
		t.Fatalf("generate-admin printed %q (stderr %q)", key, errw.String())
	}
	if !strings.Contains(errw.String(), `"action":"apikey.create"`) {
		t.Fatalf("key creation not audited: %s", errw.String())
	}
	return key
}

// keys generate-admin → server → admin, and the key survives a restart
// through API_KEYS_FILE, which never holds the raw key.
func TestEndToEndAPIKeysFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	env := merge(baseEnv(), map[string]string{"API_KEYS_FILE": file})
	key := generateAdmin(t, env, "--name", "ops", "--ttl", "2h")

	base, _, stop := startRun(t, env)
	status, me := callWithKey(t, base, "GET", "/auth/me", key)
	if status != 200 || me["method"] != "api_key" || me["tenant"] != "platform" {
		t.Fatalf("me with the bootstrap key: %d %v", status, me)
	}
	if status, _ := callWithKey(t, base, "GET", "/auth/sessions", key); status != 200 {
		t.Fatalf("admin route with the bootstrap key: %d", status)
	}
	// Create a second key through the API with the bootstrap key.
	req, _ := http.NewRequest("POST", base+"/auth/api-keys", strings.NewReader(`{"name":"svc","tenant":"acme","scopes":["orders:read"]}`))
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	svcKey, _ := created["key"].(string)
	if resp.StatusCode != 201 || svcKey == "" {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}
	stop()

	base, _, _ = startRun(t, env)
	for _, k := range []string{key, svcKey} {
		if status, _ := callWithKey(t, base, "GET", "/auth/me", k); status != 200 {
			t.Fatalf("key after restart: %d", status)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	for _, k := range []string{key, svcKey} {
		if bytes.Contains(raw, []byte(k)) || bytes.Contains(raw, []byte(k[8:len(k)-4])) {
			t.Fatal("the key file holds a raw key")
		}
	}
}

func TestGenerateAdminRefusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	prod := merge(baseEnv(), map[string]string{"RELAY_ENV": "production", "API_KEYS_FILE": file})
	err := run(context.Background(), []string{"keys", "generate-admin"}, envFunc(prod), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--allow-production") {
		t.Fatalf("production without the flag: %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused run wrote the key file")
	}
	// With the flag, but for a production configuration serve would refuse
	// (debug on, memory sessions): no admin key for it either.
	unsafe := merge(prod, map[string]string{"RELAY_DEBUG": "true"})
	err = run(context.Background(), []string{"keys", "generate-admin", "--allow-production"}, envFunc(unsafe), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "RELAY_DEBUG") || !strings.Contains(err.Error(), "SESSION_STORE_BACKEND") {
		t.Fatalf("production with an unsafe configuration: %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused run wrote the key file")
	}
	err = run(context.Background(), []string{"keys", "generate-admin"}, envFunc(baseEnv()), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") {
		t.Fatalf("no persistent store: %v", err)
	}
	err = run(context.Background(), []string{"keys", "generate-admin", "--ttl", "0s"}, envFunc(merge(baseEnv(), map[string]string{"API_KEYS_FILE": file})), nil, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("a key that never expires was minted")
	}
}

// A corrupt key file stops the server with a clear message and is left
// exactly as it was.
func TestCorruptKeyFileRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	corrupt := []byte(`{"format":"relayauth-apikeys","version":1,"keys":[{"id":`)
	if err := os.WriteFile(file, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"serve"}, envFunc(merge(baseEnv(), map[string]string{"API_KEYS_FILE": file})), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("serve with a corrupt key file: %v", err)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, corrupt) {
		t.Fatal("the corrupt file was modified")
	}
}

// migrate apikeys-file-to-redis, then a Redis-backed server knows the key.
func TestMigrateKeysFileToRedis(t *testing.T) {
	addr := testredis.Addr(t)
	file := filepath.Join(t.TempDir(), "keys.json")
	fileEnv := merge(baseEnv(), map[string]string{"API_KEYS_FILE": file})
	key := generateAdmin(t, fileEnv)

	migEnv := merge(fileEnv, map[string]string{"REDIS_URL": "redis://" + addr + "/0", "REDIS_KEY_PREFIX": testredis.Prefix(t)})
	for i, want := range []string{`"migrated":1`, `"migrated":0`} { // the second run is a no-op
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate", "apikeys-file-to-redis"}, envFunc(migEnv), nil, &out, io.Discard); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"complete":true`) {
			t.Fatalf("run %d: %s", i+1, out.String())
		}
	}
	redisEnv := merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis", "REDIS_URL": migEnv["REDIS_URL"], "REDIS_KEY_PREFIX": migEnv["REDIS_KEY_PREFIX"]})
	base, _, _ := startRun(t, redisEnv)
	if status, me := callWithKey(t, base, "GET", "/auth/me", key); status != 200 || me["tenant"] != "platform" {
		t.Fatalf("migrated key on Redis: %d %v", status, me)
	}
	err := run(context.Background(), []string{"migrate", "no-such-migration"}, envFunc(migEnv), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "known") {
		t.Fatalf("unknown migration: %v", err)
	}
}

// migrate schema-v2 through the command line: sessions made by a running
// server keep working, a second run changes nothing.
func TestMigrateSchemaV2Command(t *testing.T) {
	addr := testredis.Addr(t)
	env := merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis", "REDIS_URL": "redis://" + addr + "/0", "REDIS_KEY_PREFIX": testredis.Prefix(t)})
	base, _, _ := startRun(t, env)
	c := client{t, base}
	access, _ := c.login(e2ePassword)
	for i, want := range []string{`"complete":true`, `"migrated":0`} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate", "schema-v2"}, envFunc(env), nil, &out, io.Discard); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run %d: %s", i+1, out.String())
		}
	}
	if status, _ := c.call("GET", "/auth/me", access, ""); status != 200 {
		t.Fatalf("session after the migration: %d", status)
	}
	prod := merge(env, map[string]string{"RELAY_ENV": "production"})
	if err := run(context.Background(), []string{"migrate", "schema-v2"}, envFunc(prod), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--confirm") {
		t.Fatalf("production without --confirm: %v", err)
	}
}
