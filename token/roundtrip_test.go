package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fullClaims(typ Type) Claims {
	return Claims{
		Subject:   "user-1",
		ExpiresAt: testNow + 900,
		NotBefore: testNow,
		IssuedAt:  testNow,
		ID:        "jti-1",
		SessionID: "sid-1",
		Tenant:    "acme",
		Roles:     []string{"admin", "tenant_admin"},
		Scopes:    []string{"tokens:issue", "api_keys:read", "sessions:revoke"},
		Type:      typ,
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, k := range []*Key{mustHS256(t), mustEdDSA(t), mustES256(t)} {
		for _, typ := range []Type{Access, Refresh} {
			t.Run(string(k.alg)+"/"+typ.String(), func(t *testing.T) {
				ks := mustKeySet(t, k)
				in := fullClaims(typ)
				tok, err := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := testVerifier(ks).Verify(tok, typ)
				if err != nil {
					t.Fatal(err)
				}
				want := in
				want.Issuer, want.Audience = testIssuer, []string{testAudience}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("got  %+v\nwant %+v", got, want)
				}
				// The wire format: typ in the header, aud a string, scope one string.
				parts := strings.Split(tok, ".")
				var h, p map[string]any
				json.Unmarshal(b64urlBytes(t, parts[0]), &h)
				json.Unmarshal(b64urlBytes(t, parts[1]), &p)
				if h["typ"] != typ.mediaType() || h["alg"] != string(k.alg) || h["kid"] != k.kid || len(h) != 3 {
					t.Fatalf("header %v", h)
				}
				if p["aud"] != testAudience || p["scope"] != "tokens:issue api_keys:read sessions:revoke" {
					t.Fatalf("payload %v", p)
				}
				if _, err := VerifyJWS(ks, tok, 0); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestIssueEscapesAndMultipleAudiences(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	iss := NewIssuer(ks, testIssuer, []string{"a", testAudience})
	c := fullClaims(Access)
	c.Subject = "quote\" backslash\\ nl\n tab\t nul\x00 é 😀 \u2028"
	c.Roles = []string{"r\"1", ""}
	c.Scopes = nil
	tok, err := iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{"a", testAudience} {
		got, err := NewVerifier(ks, testIssuer, aud, WithClock(fixedClock)).VerifyAccess(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != c.Subject || !reflect.DeepEqual(got.Roles, c.Roles) || got.Scopes != nil ||
			!reflect.DeepEqual(got.Audience, []string{"a", testAudience}) {
			t.Fatalf("%+v", got)
		}
	}
	// The payload is valid JSON to everyone else too.
	var p map[string]any
	if err := json.Unmarshal(b64urlBytes(t, strings.Split(tok, ".")[1]), &p); err != nil || p["sub"] != c.Subject {
		t.Fatalf("%v %v", p, err)
	}
}

func TestClaimsSlicesDoNotAlias(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	tok, _ := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	c, err := testVerifier(ks).VerifyAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Audience = append(c.Audience, "x")
	c.Roles = append(c.Roles, "y")
	if c.Roles[0] != "admin" || c.Scopes[0] != "tokens:issue" || len(c.Scopes) != 3 {
		t.Fatalf("append overwrote a neighbour: %+v", c)
	}
}

func TestIssueRefuses(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	iss := NewIssuer(ks, testIssuer, []string{testAudience})
	mod := func(f func(*Claims)) Claims { c := fullClaims(Access); f(&c); return c }
	for name, c := range map[string]Claims{
		"no type":            mod(func(c *Claims) { c.Type = 0 }),
		"bad type":           mod(func(c *Claims) { c.Type = 9 }),
		"no exp":             mod(func(c *Claims) { c.ExpiresAt = 0 }),
		"exp before iat":     mod(func(c *Claims) { c.ExpiresAt = c.IssuedAt }),
		"exp too large":      mod(func(c *Claims) { c.ExpiresAt = 1 << 60 }),
		"negative nbf":       mod(func(c *Claims) { c.NotBefore = -1 }),
		"no sub":             mod(func(c *Claims) { c.Subject = "" }),
		"no sid":             mod(func(c *Claims) { c.SessionID = "" }),
		"no jti":             mod(func(c *Claims) { c.ID = "" }),
		"scope with space":   mod(func(c *Claims) { c.Scopes = []string{"a b"} }),
		"empty scope":        mod(func(c *Claims) { c.Scopes = []string{""} }),
		"scope with quote":   mod(func(c *Claims) { c.Scopes = []string{`a"`} }),
		"invalid UTF-8":      mod(func(c *Claims) { c.Tenant = "\xff" }),
		"invalid UTF-8 role": mod(func(c *Claims) { c.Roles = []string{"\xc0"} }),
		"too many roles":     mod(func(c *Claims) { c.Roles = make([]string, maxListItems) }),
	} {
		if tok, err := iss.Issue(c); err == nil {
			t.Errorf("%s: issued %s", name, tok)
		}
	}
	if _, err := NewIssuer(ks, "", []string{testAudience}).Issue(fullClaims(Access)); err == nil {
		t.Error("issued without issuer")
	}
	if _, err := NewIssuer(ks, testIssuer, nil).Issue(fullClaims(Access)); err == nil {
		t.Error("issued without audience")
	}
	if _, err := NewIssuer(ks, testIssuer, []string{""}).Issue(fullClaims(Access)); err == nil {
		t.Error("issued with empty audience")
	}
	vks, _ := NewVerificationKeySet(mustHS256(t))
	if _, err := NewIssuer(vks, testIssuer, []string{testAudience}).Issue(fullClaims(Access)); err == nil {
		t.Error("issued from a verification-only key set")
	}
	capped := NewIssuer(ks, testIssuer, []string{testAudience}, WithMaxLifetime(15*time.Minute))
	if _, err := capped.Issue(fullClaims(Access)); err != nil { // exactly 900s
		t.Errorf("15 minutes refused: %v", err)
	}
	if _, err := capped.Issue(mod(func(c *Claims) { c.ExpiresAt++ })); err == nil {
		t.Error("lifetime over the cap issued")
	}
	if _, err := capped.Issue(mod(func(c *Claims) { c.IssuedAt = 0 })); err == nil {
		t.Error("capped issuer issued without iat")
	}
}

func TestKeyRotation(t *testing.T) {
	a, b := mustHS256(t), mustEdDSA(t)
	ks1 := mustKeySet(t, a)
	tokA, err := NewIssuer(ks1, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := ks1.Rotate(b)
	if err != nil {
		t.Fatal(err)
	}
	if ks2.Active() != b || ks1.Active() != a {
		t.Fatal("Rotate changed the old set or did not activate next")
	}
	tokB, err := NewIssuer(ks2, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tokB, b.headers[Access]+".") {
		t.Fatal("new tokens are not signed by the new active key")
	}
	v2 := testVerifier(ks2)
	for _, tok := range []string{tokA, tokB} {
		if _, err := v2.VerifyAccess(tok); err != nil {
			t.Fatalf("during overlap: %v", err)
		}
	}
	if _, err := testVerifier(ks1).VerifyAccess(tokB); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old set verified a new-key token: %v", err)
	}
	ks3, err := ks2.Without(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	_, err = testVerifier(ks3).VerifyAccess(tokA)
	wantErr(t, err, ErrUnknownKey)
	if _, err := testVerifier(ks3).VerifyAccess(tokB); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.VerifyAccess(tokA); err != nil {
		t.Fatal("Without changed the old set")
	}

	if _, err := ks3.Without(b.ID()); err == nil {
		t.Error("removed the active key")
	}
	if _, err := ks3.Without("nope"); err == nil {
		t.Error("removed an unknown kid")
	}
	if _, err := ks2.Rotate(a); err == nil {
		t.Error("rotated to a key already in the set")
	}
	pub, _ := NewPublicKey(EdDSA, "pub", mustEdDSA(t).edPub)
	if _, err := ks2.Rotate(pub); err == nil {
		t.Error("rotated to a verify-only key")
	}
	if _, err := NewKeySet(pub); err == nil {
		t.Error("verify-only active key")
	}
	if _, err := NewKeySet(a, a); err == nil {
		t.Error("duplicate kid")
	}
	if _, err := NewKeySet(nil); err == nil {
		t.Error("nil active key")
	}
	if _, err := NewKeySet(a, nil); err == nil {
		t.Error("nil previous key")
	}
	if _, err := NewVerificationKeySet(); err == nil {
		t.Error("empty verification set")
	}
}

func TestJWKS(t *testing.T) {
	hs, ed, es := mustHS256(t), mustEdDSA(t), mustES256(t)
	ks := mustKeySet(t, ed, hs, es)
	raw, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{string(testSecret), base64.RawURLEncoding.EncodeToString(testSecret),
		base64.RawURLEncoding.EncodeToString(ed.edPriv.Seed()), hs.kid} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("JWKS contains HMAC or private material: %s", raw)
		}
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("want 2 public keys, got %s", raw)
	}
	var keys []*Key
	for _, j := range set.Keys {
		for _, forbidden := range []string{"d", "k", "p", "q", "dp", "dq", "qi"} {
			if _, ok := j[forbidden]; ok {
				t.Fatalf("JWK has %q: %v", forbidden, j)
			}
		}
		if j["use"] != "sig" {
			t.Fatalf("use: %v", j)
		}
		kid, _ := j["kid"].(string)
		x := b64urlBytes(t, j["x"].(string))
		var k *Key
		switch j["alg"] {
		case "EdDSA":
			if j["kty"] != "OKP" || j["crv"] != "Ed25519" || kid != ed.kid || len(j) != 6 {
				t.Fatalf("Ed25519 JWK: %v", j)
			}
			k, err = NewPublicKey(EdDSA, kid, ed25519.PublicKey(x))
		case "ES256":
			if j["kty"] != "EC" || j["crv"] != "P-256" || kid != es.kid || len(j) != 7 {
				t.Fatalf("P-256 JWK: %v", j)
			}
			y := b64urlBytes(t, j["y"].(string))
			if len(x) != 32 || len(y) != 32 {
				t.Fatal("coordinates not 32 bytes")
			}
			pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if perr != nil {
				t.Fatal(perr)
			}
			k, err = NewPublicKey(ES256, kid, pub)
		default:
			t.Fatalf("alg %v", j["alg"])
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if set.Keys[0]["kid"] != ed.kid {
		t.Fatal("active key is not first")
	}

	// A verifier built only from the JWKS verifies tokens of both keys.
	pubSet, err := NewVerificationKeySet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	if pubSet.Active() != nil {
		t.Fatal("verification set has an active key")
	}
	rotated, _ := ks.Rotate(mustES256Other(t))
	for _, signer := range []*KeySet{ks, mustKeySet(t, es)} {
		tok, err := NewIssuer(signer, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testVerifier(pubSet).VerifyAccess(tok); err != nil {
			t.Fatalf("JWKS verifier: %v", err)
		}
	}
	tok, _ := NewIssuer(rotated, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	if _, err := testVerifier(pubSet).VerifyAccess(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key not in JWKS verified: %v", err)
	}

	empty, _ := mustKeySet(t, hs).JWKS()
	if string(empty) != `{"keys":[]}` {
		t.Fatalf("HS256-only JWKS = %s", empty)
	}
}

func mustES256Other(t *testing.T) *Key {
	k, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifyAllocations pins the hot-path budget: a successful Verify
// allocates at most twice (payload string + one []string), so the session
// check added by the server fits in a total of three.
func TestVerifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, k := range []*Key{mustHS256(t), mustEdDSA(t)} {
		ks := mustKeySet(t, k)
		tok, _ := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
		v := testVerifier(ks)
		if n := testing.AllocsPerRun(100, func() {
			if _, err := v.VerifyAccess(tok); err != nil {
				t.Fatal(err)
			}
		}); n > 2 {
			t.Errorf("%s: %v allocs per Verify, budget 2", k.alg, n)
		}
	}
}

// TestVerifyAccessInto: the claims are those Verify returns, backed by the
// caller's list when they fit in it and by a slice of their own when not,
// and zero on every error.
func TestVerifyAccessInto(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	iss := NewIssuer(ks, testIssuer, []string{testAudience})
	v := testVerifier(ks)
	access, _ := iss.Issue(fullClaims(Access)) // 1 audience + 2 roles + 3 scopes
	refresh, _ := iss.Issue(fullClaims(Refresh))
	want, err := v.VerifyAccess(access)
	if err != nil {
		t.Fatal(err)
	}
	within := func(s, list []string) bool {
		for i := range list {
			if len(s) > 0 && &s[0] == &list[i] {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name   string
		list   int
		inline bool
	}{
		{"nil list", 0, false},
		{"too short", 5, false},
		{"exact", 6, true},
		{"roomy", 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := make([]string, tc.list)
			var c Claims
			if err := v.VerifyAccessInto(access, &c, list); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("claims %+v, Verify gave %+v", c, want)
			}
			for name, s := range map[string][]string{"audience": c.Audience, "roles": c.Roles, "scopes": c.Scopes} {
				if within(s, list) != tc.inline {
					t.Errorf("%s backed by the caller's list: %v, want %v", name, !tc.inline, tc.inline)
				}
				if cap(s) != len(s) {
					t.Errorf("%s has spare capacity %d: an append would write into its neighbour", name, cap(s)-len(s))
				}
			}
		})
	}
	for name, tok := range map[string]string{"refresh token": refresh, "garbage": "a.b.c", "empty": ""} {
		c := want // not zero: the call must clear it
		if err := v.VerifyAccessInto(tok, &c, make([]string, 8)); err == nil {
			t.Fatalf("%s verified as an access token", name)
		}
		if !reflect.DeepEqual(c, Claims{}) {
			t.Errorf("%s: claims left %+v after an error", name, c)
		}
	}
	if raceEnabled {
		return // sync.Pool drops items under the race detector
	}
	list := make([]string, 8)
	if n := testing.AllocsPerRun(100, func() {
		var c Claims
		if err := v.VerifyAccessInto(access, &c, list); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("%v allocs per VerifyAccessInto with room in the list, budget 1 (the payload)", n)
	}
}
