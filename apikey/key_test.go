package apikey_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
)

func TestValidate(t *testing.T) {
	now := apikeytest.Base()
	long := strings.Repeat("x", 129)
	tooMany := make([]string, 33)
	for i := range tooMany {
		tooMany[i] = "s" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*apikey.Key)
		ok     bool
	}{
		{"valid", func(*apikey.Key) {}, true},
		{"unicode name", func(k *apikey.Key) { k.Name = "Déploiement 🚀 prod" }, true},
		{"64-character name", func(k *apikey.Key) { k.Name = strings.Repeat("é", 64) }, true},
		{"65-character name", func(k *apikey.Key) { k.Name = strings.Repeat("é", 65) }, false},
		{"empty name", func(k *apikey.Key) { k.Name = "" }, false},
		{"name with newline", func(k *apikey.Key) { k.Name = "a\nlevel=ERROR msg=forged" }, false},
		{"name with escape", func(k *apikey.Key) { k.Name = "a\x1b[31m" }, false},
		{"name with trailing space", func(k *apikey.Key) { k.Name = "deploy " }, false},
		{"name not UTF-8", func(k *apikey.Key) { k.Name = "a\xff" }, false},
		{"tenant with colon", func(k *apikey.Key) { k.Tenant = "org:acme@eu+1.x-y" }, true},
		{"128-byte tenant", func(k *apikey.Key) { k.Tenant = long[:128] }, true},
		{"129-byte tenant", func(k *apikey.Key) { k.Tenant = long }, false},
		{"tenant with brace", func(k *apikey.Key) { k.Tenant = "a{b}" }, false},
		{"tenant with space", func(k *apikey.Key) { k.Tenant = "a b" }, false},
		{"tenant starting with dot", func(k *apikey.Key) { k.Tenant = ".acme" }, false},
		{"tenant with underscore", func(k *apikey.Key) { k.Tenant = "a_b" }, false},
		{"empty tenant", func(k *apikey.Key) { k.Tenant = "" }, false},
		{"scope with space", func(k *apikey.Key) { k.Scopes = []string{"tokens issue"} }, false},
		{"empty scope", func(k *apikey.Key) { k.Scopes = []string{""} }, false},
		{"duplicate scope", func(k *apikey.Key) { k.Scopes = []string{"a", "a"} }, false},
		{"33 scopes", func(k *apikey.Key) { k.Scopes = tooMany }, false},
		{"32 roles", func(k *apikey.Key) { k.Roles = tooMany[:32] }, true},
		{"role with slash", func(k *apikey.Key) { k.Roles = []string{"a/b"} }, false},
		{"no scopes", func(k *apikey.Key) { k.Scopes = nil }, true},
		{"unknown env", func(k *apikey.Key) { k.Env = "prod" }, false},
		{"mask of the other env", func(k *apikey.Key) { k.MaskedKey = "rk_live_…abcd" }, false},
		{"raw key as mask", func(k *apikey.Key) { k.MaskedKey = newRaw(t, apikey.EnvTest) }, false},
		{"zero hash", func(k *apikey.Key) { k.Hash = apikey.Hash{} }, false},
		{"bad id", func(k *apikey.Key) { k.ID = "key_abc" }, false},
		{"no created_at", func(k *apikey.Key) { k.CreatedAt = time.Time{} }, false},
		{"expires before created", func(k *apikey.Key) { k.ExpiresAt = k.CreatedAt }, false},
		{"year 3000", func(k *apikey.Key) { k.ExpiresAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"prev hash, no deadline", func(k *apikey.Key) { k.PrevHash = apikeytest.NewHash() }, false},
		{"deadline, no prev hash", func(k *apikey.Key) { k.PrevValidUntil = now }, false},
		{"prev hash = hash", func(k *apikey.Key) { k.PrevHash, k.PrevValidUntil = k.Hash, now }, false},
		{"control character in created_by", func(k *apikey.Key) { k.CreatedBy = "x\r\n" }, false},
	} {
		k := apikeytest.NewKey("acme", "deploy", now)
		tc.mutate(&k)
		err := k.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, apikey.ErrInvalid) || !errors.Is(err, relayauth.ErrInvalid)) {
			t.Errorf("%s: %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}

func TestValidateReportsEverything(t *testing.T) {
	k := apikeytest.NewKey("a b", "", apikeytest.Base())
	k.Scopes = []string{"x y"}
	err := k.Validate()
	for _, field := range []string{"name", "tenant", "scopes"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v; want a problem with %s", err, field)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := apikey.NewID()
		if !apikey.ValidID(id) || seen[id] {
			t.Fatalf("NewID() = %q (valid %v, repeated %v)", id, apikey.ValidID(id), seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "key_", "key_AAAAAAAAAAAAAAA", "key_AAAAAAAAAAAAAAAAA", "kez_AAAAAAAAAAAAAAAA", "key_AAAAAAAAAAAAAAA-"} {
		if apikey.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

// TestKeyJSON: the record's JSON (the file store's) round-trips and holds
// hashes in hex, never a key.
func TestKeyJSON(t *testing.T) {
	now := apikeytest.Base()
	k := apikeytest.NewKey("acme", "deploy", now)
	k.PrevHash, k.PrevValidUntil = apikeytest.NewHash(), now.Add(time.Hour)
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"hash":"`+k.Hash.String()+`"`) {
		t.Errorf("JSON does not hold the hash in hex: %s", b)
	}
	var back apikey.Key
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := apikeytest.Diff(back, k); d != "" {
		t.Errorf("JSON round trip: %s", d)
	}
	k.PrevHash, k.PrevValidUntil = apikey.Hash{}, time.Time{}
	b, _ = json.Marshal(k)
	for _, absent := range []string{"prev_hash", "revoked_at", "expires_at", "last_used_at"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("JSON of a key without %s mentions it: %s", absent, b)
		}
	}
}
