package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestKeyIDs(t *testing.T) {
	t.Run("HS256 kid is a domain-separated hash", func(t *testing.T) {
		sum := sha256.Sum256(append([]byte("relayauth kid v1"), testSecret...))
		want := base64.RawURLEncoding.EncodeToString(sum[:16])
		if got := mustHS256(t).ID(); got != want || len(got) != 22 {
			t.Fatalf("kid %q, want %q", got, want)
		}
	})
	t.Run("EdDSA kid is the RFC 8037 A.3 thumbprint", func(t *testing.T) {
		// RFC 8037 Appendix A.1 key and A.3 thumbprint.
		seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
		k, err := NewEdDSAKey(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		if k.ID() != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Fatalf("kid %q", k.ID())
		}
		if got := base64.RawURLEncoding.EncodeToString(k.edPub); got != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
			t.Fatalf("x %q", got)
		}
	})
	t.Run("ES256 kid is the RFC 7638 thumbprint", func(t *testing.T) {
		k := mustES256(t)
		x, y, _ := ecCoordinates(k.ecPub)
		// Built independently: encoding/json sorts map keys, as RFC 7638 requires.
		j, _ := json.Marshal(map[string]string{
			"kty": "EC", "crv": "P-256",
			"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y),
		})
		sum := sha256.Sum256(j)
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.ID() != want {
			t.Fatalf("kid %q, want %q", k.ID(), want)
		}
	})
}

// The cached protected headers must be exactly what the full parser makes
// of them: the verify fast path relies on it.
func TestCachedHeadersParse(t *testing.T) {
	pub, err := NewPublicKey(EdDSA, `weird "kid" \ é`, mustEdDSA(t).edPub)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Key{mustHS256(t), mustEdDSA(t), mustES256(t), pub} {
		ks, err := NewVerificationKeySet(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []Type{Access, Refresh} {
			var sc scratch
			var h header
			got, err := parseHeaderSegment(ks, nil, k.headers[typ], &h, &sc)
			if err != nil || got != k || h.alg != k.alg || h.typ != typ || string(h.kid) != k.kid {
				t.Fatalf("%s/%v: key %v alg %q typ %v kid %q err %v", k.alg, typ, got, h.alg, h.typ, h.kid, err)
			}
			if hit, ok := ks.lookupHeader(k.headers[typ], nil); !ok || hit.key != k || hit.typ != typ {
				t.Fatalf("%s/%v: not in the header cache", k.alg, typ)
			}
		}
	}
}

func TestKeyConstructors(t *testing.T) {
	t.Run("PKCS8 round trip", func(t *testing.T) {
		for _, alg := range []Alg{EdDSA, ES256} {
			k, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			der, err := k.MarshalPKCS8()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParsePrivateKey(alg, der)
			if err != nil || back.ID() != k.ID() || back.Alg() != alg {
				t.Fatalf("%s: %v %v", alg, back, err)
			}
			other := EdDSA
			if alg == EdDSA {
				other = ES256
			}
			if _, err := ParsePrivateKey(other, der); err == nil {
				t.Fatalf("%s key parsed as %s", alg, other)
			}
			if _, err := ParsePrivateKey(HS256, der[:10]); err == nil {
				t.Fatal("10-byte HS256 secret accepted")
			}
		}
	})
	t.Run("refusals", func(t *testing.T) {
		hs := mustHS256(t)
		if _, err := hs.MarshalPKCS8(); err == nil {
			t.Error("HS256 MarshalPKCS8")
		}
		pub, _ := NewPublicKey(EdDSA, "k", mustEdDSA(t).edPub)
		if _, err := pub.MarshalPKCS8(); err == nil {
			t.Error("verify-only MarshalPKCS8")
		}
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if _, err := NewES256Key(p384); err == nil {
			t.Error("P-384 accepted as ES256")
		}
		if _, err := NewPublicKey(ES256, "k", &p384.PublicKey); err == nil {
			t.Error("P-384 public key accepted")
		}
		if _, err := NewPublicKey(ES256, "k", mustEdDSA(t).edPub); err == nil {
			t.Error("Ed25519 key accepted as ES256")
		}
		if _, err := NewPublicKey(EdDSA, "k", ed25519.PublicKey(make([]byte, 31))); err == nil {
			t.Error("short Ed25519 key accepted")
		}
		if _, err := NewPublicKey(EdDSA, "", mustEdDSA(t).edPub); err == nil {
			t.Error("empty kid accepted")
		}
		if _, err := NewPublicKey("none", "k", mustEdDSA(t).edPub); err == nil {
			t.Error("alg none accepted")
		}
		if _, err := NewEdDSAKey(make([]byte, 10)); err == nil {
			t.Error("short Ed25519 private key accepted")
		}
		bad := ed25519.NewKeyFromSeed(make([]byte, 32))
		bad[40] ^= 1 // public half no longer matches the seed
		if _, err := NewEdDSAKey(bad); err == nil {
			t.Error("inconsistent Ed25519 key accepted")
		}
		if _, err := GenerateKey("RS256"); err == nil {
			t.Error("GenerateKey(RS256)")
		}
		if _, err := ParsePrivateKey("none", nil); err == nil {
			t.Error("ParsePrivateKey(none)")
		}
	})
	t.Run("secret is copied", func(t *testing.T) {
		secret := append([]byte(nil), testSecret...)
		k, _ := NewHS256Key(secret)
		ks := mustKeySet(t, k)
		tok := signRaw(t, k, hdr(k, "at+jwt"), claimsJSON())
		for i := range secret {
			secret[i] = 0
		}
		if _, err := testVerifier(ks).VerifyAccess(tok); err != nil {
			t.Fatal(err)
		}
	})
}

// Keys never print their material: not with any fmt verb, not through
// slog, not through encoding/json.
func TestKeyRedaction(t *testing.T) {
	for _, k := range []*Key{mustHS256(t), mustEdDSA(t), mustES256(t)} {
		var secrets [][]byte
		switch k.alg {
		case HS256:
			secrets = [][]byte{testSecret}
		case EdDSA:
			secrets = [][]byte{k.edPriv.Seed()}
		case ES256:
			d, _ := k.ecPriv.Bytes()
			secrets = [][]byte{d}
		}
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
		}
		outs = append(outs, fmt.Sprint(k), fmt.Sprintln(*k), fmt.Sprintf("%v", []*Key{k}), fmt.Sprintf("%+v", struct{ K Key }{*k}))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k, "value", *k)
		outs = append(outs, buf.String())
		j, _ := json.Marshal(k)
		outs = append(outs, string(j))
		ks := mustKeySet(t, k)
		outs = append(outs, fmt.Sprintf("%+v", ks), fmt.Sprintf("%#v", *ks))
		for _, out := range outs {
			for _, s := range secrets {
				for _, enc := range []string{string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
					base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s), fmt.Sprint(s)[1:20]} {
					if strings.Contains(out, enc) {
						t.Fatalf("%s key material printed: %s", k.alg, out)
					}
				}
			}
		}
		if !strings.Contains(fmt.Sprintf("%d", k), "[REDACTED]") || !strings.Contains(fmt.Sprintf("%v", k), k.kid) {
			t.Fatalf("unexpected String: %v", k)
		}
	}
}
