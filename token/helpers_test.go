package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
)

// Shared fixtures. Keys are fixed so failures reproduce; the HS256 secret is
// 32 distinct bytes.

const (
	testIssuer   = "https://auth.relay.test"
	testAudience = "relay-api"
	testNow      = int64(1_700_000_000)
)

// testSecret is 32 bytes that pass CheckHS256Secret (from crypto/rand once).
var testSecret = []byte{
	0x3e, 0x91, 0x0c, 0xd7, 0x5a, 0xf2, 0x68, 0x14, 0xb9, 0x07, 0xe3, 0x4d, 0x86, 0x2b, 0xc0, 0x7f,
	0x19, 0xa4, 0x5e, 0xdb, 0x30, 0x8c, 0x62, 0xf5, 0x0e, 0x97, 0x43, 0xba, 0x21, 0xcd, 0x76, 0xe8,
}

func fixedClock() time.Time { return time.Unix(testNow, 0) }

func mustHS256(t testing.TB) *Key {
	t.Helper()
	k, err := NewHS256Key(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEdDSA(t testing.TB) *Key {
	t.Helper()
	k, err := NewEdDSAKey(ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustES256(t testing.TB) *Key {
	t.Helper()
	d := make([]byte, 32)
	d[31] = 7
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewES256Key(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeySet(t testing.TB, active *Key, prev ...*Key) *KeySet {
	t.Helper()
	ks, err := NewKeySet(active, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func testVerifier(ks *KeySet, opts ...VerifierOption) *Verifier {
	return NewVerifier(ks, testIssuer, testAudience, append([]VerifierOption{WithClock(fixedClock)}, opts...)...)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw builds a compact JWS from exact header and payload JSON, signed by
// k: the way to test what Issue would never produce.
func signRaw(t testing.TB, k *Key, header, payload string) string {
	t.Helper()
	in := b64(header) + "." + b64(payload)
	sig, err := k.sign([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hdr is a header JSON for k with typ.
func hdr(k *Key, typ string) string {
	return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, k.alg, k.kid, typ)
}

// claimsJSON is a valid access-token payload at testNow; extra members are
// spliced in before the closing brace.
func claimsJSON(extra ...string) string {
	s := fmt.Sprintf(`{"iss":%q,"sub":"user-1","aud":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":"jti-1","sid":"sid-1","tenant":"acme","roles":["admin","tenant_admin"],"scope":"tokens:issue api_keys:read sessions:revoke"`,
		testIssuer, testAudience, testNow+600, testNow-10, testNow-10)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// claimsWithout is claimsJSON minus the named members, plus extra ones:
// for replacing a claim with a variant.
func claimsWithout(drop []string, extra ...string) string {
	base := map[string]string{
		"iss": fmt.Sprintf(`"iss":%q`, testIssuer), "sub": `"sub":"user-1"`,
		"aud": fmt.Sprintf(`"aud":%q`, testAudience), "exp": fmt.Sprintf(`"exp":%d`, testNow+600),
		"nbf": fmt.Sprintf(`"nbf":%d`, testNow-10), "iat": fmt.Sprintf(`"iat":%d`, testNow-10),
		"jti": `"jti":"jti-1"`, "sid": `"sid":"sid-1"`,
	}
	order := []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"}
	var parts []string
	for _, n := range order {
		if !contains(drop, n) {
			parts = append(parts, base[n])
		}
	}
	return "{" + strings.Join(append(parts, extra...), ",") + "}"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// wantErr fails unless err matches want and, always, ErrUnauthenticated.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v; want %v", err, want)
	}
	if !errors.Is(err, relayauth.ErrUnauthenticated) {
		t.Fatalf("err = %v does not wrap relayauth.ErrUnauthenticated", err)
	}
}

func mustBig(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic(s)
	}
	return n
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
