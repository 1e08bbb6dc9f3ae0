package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// One test per item of docs/security.md §Tokens (items 1-10).

// verifyAll returns the error of Verify(Access) under a fixed-clock
// verifier for a key set holding all three test keys.
func securityVerifier(t *testing.T) (*Verifier, *Key, *Key, *Key) {
	t.Helper()
	hs, ed, es := mustHS256(t), mustEdDSA(t), mustES256(t)
	return testVerifier(mustKeySet(t, hs, ed, es)), hs, ed, es
}

// Item 1: alg is pinned per key; "none" is refused in every casing even
// though a key is configured (and even with a valid MAC attached).
func TestSecurity01_AlgPinned(t *testing.T) {
	v, hs, ed, es := securityVerifier(t)
	claims := claimsJSON()
	macOver := func(header string) string { // a valid HS256 MAC over whatever header
		return signRaw(t, hs, header, claims)
	}
	hdrWithAlg := func(alg, kid string) string {
		return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, alg, kid)
	}
	tests := []struct {
		name  string
		token string
	}{
		{"none", b64(hdrWithAlg("none", hs.kid)) + "." + b64(claims) + "."},
		{"None", b64(hdrWithAlg("None", hs.kid)) + "." + b64(claims) + "."},
		{"NONE", b64(hdrWithAlg("NONE", hs.kid)) + "." + b64(claims) + "."},
		{"nOnE", b64(hdrWithAlg("nOnE", hs.kid)) + "." + b64(claims) + "."},
		{"none escaped", b64(`{"alg":"\u006eone","kid":"`+hs.kid+`","typ":"at+jwt"}`) + "." + b64(claims) + "."},
		{"none with valid MAC", macOver(hdrWithAlg("none", hs.kid))},
		{"NONE with valid MAC", macOver(hdrWithAlg("NONE", hs.kid))},
		{"none naming EdDSA key", b64(hdrWithAlg("none", ed.kid)) + "." + b64(claims) + "."},
		{"alg missing", macOver(fmt.Sprintf(`{"kid":%q,"typ":"at+jwt"}`, hs.kid))},
		{"alg lower case hs256", macOver(hdrWithAlg("hs256", hs.kid))},
		{"alg HS512", macOver(hdrWithAlg("HS512", hs.kid))},
		{"alg RS256", macOver(hdrWithAlg("RS256", hs.kid))},
		{"alg empty", macOver(hdrWithAlg("", hs.kid))},
		{"EdDSA header, HS256 key", macOver(hdrWithAlg("EdDSA", hs.kid))},
		{"ES256 header, EdDSA key", signRaw(t, ed, hdrWithAlg("ES256", ed.kid), claims)},
		{"EdDSA header, ES256 key", signRaw(t, es, hdrWithAlg("EdDSA", es.kid), claims)},
		{"HS256 header, EdDSA key", macOver(hdrWithAlg("HS256", ed.kid))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyAccess(tc.token)
			wantErr(t, err, ErrAlgorithm)
			_, err = VerifyJWS(v.ks, tc.token, 0)
			wantErr(t, err, ErrAlgorithm)
		})
	}
	t.Run("alg not a string", func(t *testing.T) {
		_, err := v.VerifyAccess(macOver(fmt.Sprintf(`{"alg":["HS256"],"kid":%q,"typ":"at+jwt"}`, hs.kid)))
		wantErr(t, err, ErrMalformed)
	})
	t.Run("controls verify", func(t *testing.T) {
		for _, k := range []*Key{hs, ed, es} {
			if _, err := v.VerifyAccess(signRaw(t, k, hdr(k, "at+jwt"), claims)); err != nil {
				t.Fatalf("%s: %v", k.alg, err)
			}
		}
	})
}

// Item 2: an HS256 token MACed with the public key's PEM, DER or JWK bytes
// fails, because the kid names an asymmetric key and alg is pinned to it.
func TestSecurity02_HMACConfusion(t *testing.T) {
	v, _, ed, es := securityVerifier(t)
	jwks, err := v.ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	jwkOf := func(kid string) []byte {
		for _, raw := range set.Keys {
			if strings.Contains(string(raw), kid) {
				return raw
			}
		}
		t.Fatalf("kid %s not in JWKS", kid)
		return nil
	}
	for _, k := range []*Key{ed, es} {
		var pub any = k.edPub
		if k.alg == ES256 {
			pub = k.ecPub
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		materials := map[string][]byte{
			"PEM":            pemBytes,
			"PEM no newline": []byte(strings.TrimSuffix(string(pemBytes), "\n")),
			"DER":            der,
			"JWK":            jwkOf(k.kid),
		}
		if k.alg == EdDSA {
			materials["raw"] = k.edPub
		}
		for name, m := range materials {
			t.Run(string(k.alg)+"/"+name, func(t *testing.T) {
				in := b64(fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt"}`, k.kid)) + "." + b64(claimsJSON())
				mac := hmac.New(sha256.New, m)
				mac.Write([]byte(in))
				tok := in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
				_, err := v.VerifyAccess(tok)
				wantErr(t, err, ErrAlgorithm)
			})
		}
	}
}

// p256N is the order of P-256.
var p256N = new(big.Int).SetBytes(p256Order[:])

// Item 3: psychic signatures (CVE-2022-21449: r or s in {0, 1, n-1, n})
// fail; an s -> n-s malleated signature verifies (ECDSA is malleable), but
// it carries the same jti and sid, so revocation keyed by jti/sid (never by
// a hash of the token text) still applies.
func TestSecurity03_ECDSASignatures(t *testing.T) {
	v, _, ed, es := securityVerifier(t)
	in := b64(hdr(es, "at+jwt")) + "." + b64(claimsJSON())
	withSig := func(sig []byte) string { return in + "." + base64.RawURLEncoding.EncodeToString(sig) }
	rs := func(r, s *big.Int) []byte {
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	one := big.NewInt(1)
	maxInt := new(big.Int).Sub(new(big.Int).Lsh(one, 256), one)
	values := map[string]*big.Int{
		"0": new(big.Int), "1": one, "n-1": new(big.Int).Sub(p256N, one), "n": p256N,
		"n+1": new(big.Int).Add(p256N, one), "2^256-1": maxInt,
	}
	for rn, r := range values {
		for sn, s := range values {
			t.Run("r="+rn+",s="+sn, func(t *testing.T) {
				_, err := v.VerifyAccess(withSig(rs(r, s)))
				wantErr(t, err, ErrSignature)
				if verifyES256(es.ecPub, []byte(in), rs(r, s)) {
					t.Fatal("primitive accepted")
				}
			})
		}
	}

	good := signRaw(t, es, hdr(es, "at+jwt"), claimsJSON())
	dot := strings.LastIndexByte(good, '.')
	sig := b64urlBytes(t, good[dot+1:])
	t.Run("wrong lengths", func(t *testing.T) {
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		der := appendDERSignature(nil, r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32)))
		for name, bad := range map[string][]byte{
			"DER":        der,
			"63 bytes":   sig[:63],
			"65 bytes":   append(append([]byte(nil), sig...), 0),
			"leading 00": append([]byte{0}, sig...),
			"empty":      nil,
		} {
			if _, err := v.VerifyAccess(good[:dot+1] + base64.RawURLEncoding.EncodeToString(bad)); !errors.Is(err, ErrSignature) {
				t.Errorf("%s: %v, want ErrSignature", name, err)
			}
		}
	})
	t.Run("malleated s -> n-s", func(t *testing.T) {
		orig, err := v.VerifyAccess(good)
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		malleated := good[:dot+1] + base64.RawURLEncoding.EncodeToString(rs(r, new(big.Int).Sub(p256N, s)))
		if malleated == good {
			t.Fatal("malleation did not change the token")
		}
		got, err := v.VerifyAccess(malleated)
		if err != nil {
			t.Fatalf("malleated ECDSA signature rejected (%v); if crypto/ecdsa now enforces low-s, update this test", err)
		}
		if got.ID != orig.ID || got.SessionID != orig.SessionID || got.ID == "" || got.SessionID == "" {
			t.Fatalf("malleated token has jti %q sid %q, original %q %q: revocation by jti/sid would miss it",
				got.ID, got.SessionID, orig.ID, orig.SessionID)
		}
	})
	t.Run("Ed25519 S+L rejected", func(t *testing.T) {
		// Ed25519 is not malleable: crypto/ed25519 rejects S >= L.
		tok := signRaw(t, ed, hdr(ed, "at+jwt"), claimsJSON())
		dot := strings.LastIndexByte(tok, '.')
		sig := b64urlBytes(t, tok[dot+1:])
		l := mustBig("0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed")
		le := func(b []byte) []byte { // little-endian <-> big-endian
			out := make([]byte, len(b))
			for i := range b {
				out[len(b)-1-i] = b[i]
			}
			return out
		}
		s := new(big.Int).SetBytes(le(sig[32:]))
		s.Add(s, l)
		if s.BitLen() > 256 {
			t.Fatal("S+L does not fit in 32 bytes")
		}
		mal := append(append([]byte(nil), sig[:32]...), le(s.FillBytes(make([]byte, 32)))...)
		_, err := v.VerifyAccess(tok[:dot+1] + base64.RawURLEncoding.EncodeToString(mal))
		wantErr(t, err, ErrSignature)
	})
}

// Item 4: kid is only a lookup in an in-memory map.
func TestSecurity04_KidLookupOnly(t *testing.T) {
	v, hs, _, _ := securityVerifier(t)
	kids := []string{
		"../../dev/null", "/etc/passwd", "file:///etc/passwd", "http://127.0.0.1/key",
		"' OR 1=1 --", "x'; DROP TABLE keys; --", "$(rm -rf /)", "`id`", "| cat /etc/shadow",
		"", " ", hs.kid + " ", strings.ToUpper(hs.kid), hs.kid + "\u0000", "\u0000",
		strings.Repeat("A", 900), "kid-aes-sign",
	}
	for _, kid := range kids {
		t.Run(fmt.Sprintf("%.20q", kid), func(t *testing.T) {
			tok := signRaw(t, hs, fmt.Sprintf(`{"alg":"HS256","kid":%s,"typ":"at+jwt"}`, jsonQuote(kid)), claimsJSON())
			_, err := v.VerifyAccess(tok)
			wantErr(t, err, ErrUnknownKey)
		})
	}
	t.Run("kid missing", func(t *testing.T) {
		_, err := v.VerifyAccess(signRaw(t, hs, `{"alg":"HS256","typ":"at+jwt"}`, claimsJSON()))
		wantErr(t, err, ErrUnknownKey)
	})
	t.Run("kid not a string", func(t *testing.T) {
		_, err := v.VerifyAccess(signRaw(t, hs, `{"alg":"HS256","kid":1,"typ":"at+jwt"}`, claimsJSON()))
		wantErr(t, err, ErrMalformed)
	})
	t.Run("kid of a removed key", func(t *testing.T) {
		other, _ := GenerateKey(HS256)
		tok := signRaw(t, other, hdr(other, "at+jwt"), claimsJSON())
		_, err := v.VerifyAccess(tok)
		wantErr(t, err, ErrUnknownKey)
	})
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Item 5: jku, x5u, jwk and x5c are never trusted and cause no network
// traffic; crit is rejected.
func TestSecurity05_NoKeyURLsNoCrit(t *testing.T) {
	v, hs, _, _ := securityVerifier(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		jwks, _ := v.ks.JWKS()
		w.Write(jwks)
	}))
	defer srv.Close()

	attacker, _ := GenerateKey(EdDSA)
	attackerJWKS, _ := mustKeySet(t, attacker).JWKS()
	var set struct{ Keys []json.RawMessage }
	json.Unmarshal(attackerJWKS, &set)
	attackerJWK := string(set.Keys[0])

	base := func(extra string) string {
		return fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt",%s}`, hs.kid, extra)
	}
	tests := []struct {
		name, header string
		key          *Key
	}{
		{"jku", base(`"jku":"` + srv.URL + `/jwks"`), hs},
		{"x5u", base(`"x5u":"` + srv.URL + `/cert"`), hs},
		{"jwk", base(`"jwk":` + attackerJWK), hs},
		{"x5c", base(`"x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]`), hs},
		{"jwk with attacker signature", fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":"at+jwt","jwk":%s}`, attacker.kid, attackerJWK), attacker},
		{"jku null", base(`"jku":null`), hs},
		{"JKU case variant", base(`"JKU":"` + srv.URL + `"`), hs},
		{"crit empty", base(`"crit":[]`), hs},
		{"crit exp", base(`"crit":["exp"],"exp":1`), hs},
		{"crit b64", base(`"crit":["b64"],"b64":false`), hs},
		{"Crit case variant", base(`"Crit":["exp"]`), hs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyAccess(signRaw(t, tc.key, tc.header, claimsJSON()))
			wantErr(t, err, ErrMalformed)
			_, err = VerifyJWS(v.ks, signRaw(t, tc.key, tc.header, claimsJSON()), 0)
			wantErr(t, err, ErrMalformed)
		})
	}
	t.Run("unknown header parameters are ignored", func(t *testing.T) {
		tok := signRaw(t, hs, base(`"cty":"JWT","x5t":"abc","foo":{"bar":[1,2,{"baz":null}]}`), claimsJSON())
		if _, err := v.VerifyAccess(tok); err != nil {
			t.Fatal(err)
		}
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("verification made %d HTTP requests", n)
	}
}

// Item 6: duplicate or case-variant JSON keys in header or claims.
func TestSecurity06_DuplicateAndCaseVariantKeys(t *testing.T) {
	v, hs, _, _ := securityVerifier(t)
	headers := map[string]string{
		"alg twice":                 fmt.Sprintf(`{"alg":"HS256","alg":"none","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"alg twice, same value":     fmt.Sprintf(`{"alg":"HS256","alg":"HS256","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"alg and ALG":               fmt.Sprintf(`{"alg":"HS256","ALG":"none","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"Alg alone":                 fmt.Sprintf(`{"Alg":"HS256","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"Alg before alg":            fmt.Sprintf(`{"Alg":"none","alg":"HS256","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"escaped alg duplicate":     fmt.Sprintf(`{"alg":"HS256","\u0061lg":"none","kid":%q,"typ":"at+jwt"}`, hs.kid),
		"kid twice":                 fmt.Sprintf(`{"alg":"HS256","kid":%q,"kid":"other","typ":"at+jwt"}`, hs.kid),
		"KID":                       fmt.Sprintf(`{"alg":"HS256","kid":%q,"KID":"other","typ":"at+jwt"}`, hs.kid),
		"kid with Kelvin sign":      fmt.Sprintf(`{"alg":"HS256","kid":%q,"\u212aid":"other","typ":"at+jwt"}`, hs.kid),
		"kid with dotless i":        fmt.Sprintf(`{"alg":"HS256","kid":%q,"k\u0131d":"other","typ":"at+jwt"}`, hs.kid),
		"KID with dotted I":         fmt.Sprintf(`{"alg":"HS256","kid":%q,"K\u0130D":"other","typ":"at+jwt"}`, hs.kid),
		"typ with a NUL":            fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","typ\u0000":"rt+jwt"}`, hs.kid),
		"unknown with a DEL":        fmt.Sprintf("{\"alg\":\"HS256\",\"kid\":%q,\"typ\":\"at+jwt\",\"x\x7f\":1}", hs.kid),
		"typ twice":                 fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"rt+jwt","typ":"at+jwt"}`, hs.kid),
		"Typ":                       fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","Typ":"rt+jwt"}`, hs.kid),
		"unknown twice":             fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","foo":1,"foo":2}`, hs.kid),
		"unknown case variant":      fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","foo":1,"FOO":2}`, hs.kid),
		"unknown escaped duplicate": fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","foo":1,"f\u006fo":2}`, hs.kid),
	}
	for name, h := range headers {
		t.Run("header/"+name, func(t *testing.T) {
			_, err := v.VerifyAccess(signRaw(t, hs, h, claimsJSON()))
			wantErr(t, err, ErrMalformed)
		})
	}
	claims := map[string]string{
		"sub twice":             claimsJSON(`"sub":"admin"`),
		"SUB":                   claimsJSON(`"SUB":"admin"`),
		"Sub":                   claimsWithout([]string{"sub"}, `"Sub":"admin"`),
		"escaped sub duplicate": claimsJSON(`"\u0073ub":"admin"`),
		"sub with long s":       claimsJSON(`"\u017fub":"admin"`),
		"jti with dotless i":    claimsJSON(`"jt\u0131":"other"`),
		"ISS with dotted I":     claimsJSON(`"\u0130SS":"evil"`),
		"sub with a NUL":        claimsJSON(`"sub\u0000":"admin"`),
		"unknown with a tab":    claimsJSON(`"x\ty":1`),
		"unknown with a DEL":    claimsJSON("\"\x7f\":0"),
		"exp twice":             claimsJSON(fmt.Sprintf(`"exp":%d`, testNow+999999)),
		"EXP":                   claimsJSON(`"EXP":1`),
		"aud twice":             claimsJSON(`"aud":"other"`),
		"Aud":                   claimsJSON(`"Aud":"other"`),
		"roles twice":           claimsJSON(`"roles":["admin"]`),
		"ROLES":                 claimsJSON(`"ROLES":["admin"]`),
		"scope twice":           claimsJSON(`"scope":"x"`),
		"Scope":                 claimsJSON(`"Scope":"x"`),
		"tenant twice":          claimsJSON(`"tenant":"evil"`),
		"TENANT":                claimsJSON(`"TENANT":"evil"`),
		"iss twice":             claimsJSON(`"iss":"evil"`),
		"unknown twice":         claimsJSON(`"x":1`, `"x":2`),
		"unknown case variant":  claimsJSON(`"xy":1`, `"XY":2`),
	}
	for name, c := range claims {
		t.Run("claims/"+name, func(t *testing.T) {
			_, err := v.VerifyAccess(signRaw(t, hs, hdr(hs, "at+jwt"), c))
			wantErr(t, err, ErrMalformed)
		})
	}
	t.Run("nested duplicates in unknown members are not our business", func(t *testing.T) {
		c := claimsJSON(`"ext":{"a":1,"a":2,"A":3}`)
		if _, err := v.VerifyAccess(signRaw(t, hs, hdr(hs, "at+jwt"), c)); err != nil {
			t.Fatal(err)
		}
	})
}

// sigOver signs exactly hseg.pseg as given (even non-canonical segments),
// so that only the encoding is wrong.
func sigOver(t *testing.T, k *Key, hseg, pseg string) string {
	t.Helper()
	sig, err := k.sign([]byte(hseg + "." + pseg))
	if err != nil {
		t.Fatal(err)
	}
	return hseg + "." + pseg + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// setTrailingBit makes the unused low bits of a segment's last character
// non-zero: the decoded bytes are the same, the encoding is not canonical.
func setTrailingBit(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 != 2 && len(seg)%4 != 3 {
		t.Fatalf("segment length %d has no trailing bits", len(seg))
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// padTo returns a claims JSON whose base64url length is 4n+r.
func claimsWithSegLen(r int) string {
	for pad := 0; ; pad++ {
		c := claimsJSON(`"pad":"` + strings.Repeat("p", pad) + `"`)
		if len(b64(c))%4 == r {
			return c
		}
	}
}

// Item 7: strict base64url, compact form only, size cap before parsing,
// many-dots tokens cost nothing.
func TestSecurity07_EncodingAndSize(t *testing.T) {
	v, hs, ed, _ := securityVerifier(t)
	h := b64(hdr(hs, "at+jwt"))
	p := b64(claimsJSON())
	good := sigOver(t, hs, h, p)
	if _, err := v.VerifyAccess(good); err != nil {
		t.Fatal(err)
	}
	sigSeg := good[strings.LastIndexByte(good, '.')+1:]
	p2 := b64(claimsWithSegLen(2))
	p3 := b64(claimsWithSegLen(3))
	for _, seg := range []string{p2, p3} {
		if _, err := v.VerifyAccess(sigOver(t, hs, h, seg)); err != nil {
			t.Fatalf("control: %v", err)
		}
	}
	edTok := signRaw(t, ed, hdr(ed, "at+jwt"), claimsJSON())
	edDot := strings.LastIndexByte(edTok, '.')

	tests := []struct {
		name, token string
		want        error
	}{
		{"padding on header", sigOver(t, hs, h+"=", p), ErrMalformed},
		{"padding on payload (4n+2)", sigOver(t, hs, h, p2+"=="), ErrMalformed},
		{"padding on payload (4n+3)", sigOver(t, hs, h, p3+"="), ErrMalformed},
		{"padding on signature", good + "=", ErrSignature}, // length no longer 43
		{"padding replacing signature char", good[:len(good)-1] + "=", ErrMalformed},
		{"space in header", sigOver(t, hs, h[:10]+" "+h[10:], p), ErrMalformed},
		{"newline in header", sigOver(t, hs, h[:10]+"\n"+h[10:], p), ErrMalformed},
		{"CRLF in payload", sigOver(t, hs, h, p[:20]+"\r\n"+p[20:]), ErrMalformed},
		{"newline in payload", sigOver(t, hs, h, p[:20]+"\n"+p[21:]), ErrMalformed},
		{"tab in payload", sigOver(t, hs, h, p[:20]+"\t"+p[21:]), ErrMalformed},
		{"newline in signature", good[:len(good)-1] + "\n", ErrMalformed},
		{"leading space", " " + good, ErrMalformed},
		{"trailing newline", good + "\n", ErrSignature},
		{"standard alphabet '+' in payload", sigOver(t, hs, h, p[:20]+"+"+p[21:]), ErrMalformed},
		{"standard alphabet '/' in payload", sigOver(t, hs, h, p[:20]+"/"+p[21:]), ErrMalformed},
		{"'?' in payload", sigOver(t, hs, h, p[:20]+"?"+p[21:]), ErrMalformed},
		{"'#' in header", sigOver(t, hs, h[:20]+"#"+h[21:], p), ErrMalformed},
		{"non-ASCII in payload", sigOver(t, hs, h, p[:20]+"é"+p[22:]), ErrMalformed},
		{"trailing bits in payload (4n+2)", sigOver(t, hs, h, setTrailingBit(t, p2)), ErrMalformed},
		{"trailing bits in payload (4n+3)", sigOver(t, hs, h, setTrailingBit(t, p3)), ErrMalformed},
		{"trailing bits in HS256 signature", good[:len(good)-len(sigSeg)] + setTrailingBit(t, sigSeg), ErrMalformed},
		{"trailing bits in EdDSA signature", edTok[:edDot+1] + setTrailingBit(t, edTok[edDot+1:]), ErrMalformed},
		{"length 4n+1 payload", sigOver(t, hs, h, p2+"AAA"), ErrMalformed},
		{"empty", "", ErrMalformed},
		{"one segment", h, ErrMalformed},
		{"two segments", h + "." + p, ErrMalformed},
		{"four segments", good + ".", ErrMalformed},
		{"five segments (JWE)", h + "." + p + "." + p + "." + p + "." + sigSeg, ErrMalformed},
		{"JSON serialization", `{"payload":"` + p + `","protected":"` + h + `","signature":"` + sigSeg + `"}`, ErrMalformed},
		{"empty header", "." + p + "." + sigSeg, ErrMalformed},
		{"empty payload", sigOver(t, hs, h, ""), ErrMalformed},
		{"empty signature", h + "." + p + ".", ErrSignature},
		{"two dots only", "..", ErrMalformed},
		{"10,000 dots", strings.Repeat(".", 10_000), ErrTooLarge},
		{"8 KiB + 1", strings.Repeat("a", DefaultMaxTokenSize+1), ErrTooLarge},
		{"1 MiB", strings.Repeat("a", 1<<20), ErrTooLarge},
		{"valid token over the cap", sigOver(t, hs, h, b64(claimsJSON(`"big":"`+strings.Repeat("x", DefaultMaxTokenSize)+`"`))), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyAccess(tc.token)
			wantErr(t, err, tc.want)
		})
	}
	t.Run("many dots under a larger cap", func(t *testing.T) {
		big := NewVerifier(v.ks, testIssuer, testAudience, WithMaxTokenSize(16<<10))
		_, err := big.VerifyAccess(strings.Repeat(".", 10_000))
		wantErr(t, err, ErrMalformed)
	})
	t.Run("WithMaxTokenSize applies", func(t *testing.T) {
		small := testVerifier(v.ks, WithMaxTokenSize(len(good)-1))
		_, err := small.VerifyAccess(good)
		wantErr(t, err, ErrTooLarge)
		exact := testVerifier(v.ks, WithMaxTokenSize(len(good)))
		if _, err := exact.VerifyAccess(good); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rejections allocate nothing", func(t *testing.T) {
		if raceEnabled {
			t.Skip("sync.Pool drops items under the race detector")
		}
		for _, tok := range []string{strings.Repeat(".", 10_000), strings.Repeat("a", 1<<20), strings.Repeat(".", 100), good[:len(good)-2] + "AA", "a.b.c"} {
			if n := testing.AllocsPerRun(20, func() { v.VerifyAccess(tok) }); n != 0 {
				t.Errorf("%.10q...: %v allocs", tok, n)
			}
		}
	})
}

// Item 8: exp required; nbf and iat with leeway; iss and aud on every
// token; typ separates access from refresh.
func TestSecurity08_ClaimValidation(t *testing.T) {
	v, hs, _, _ := securityVerifier(t)
	at := func(c string) string { return signRaw(t, hs, hdr(hs, "at+jwt"), c) }
	without := func(names ...string) func(...string) string {
		return func(extra ...string) string { return claimsWithout(names, extra...) }
	}
	n := testNow
	tests := []struct {
		name  string
		token string
		want  error // nil = accepted
	}{
		{"valid", at(claimsJSON()), nil},
		{"exp missing", at(without("exp")()), ErrMissingClaim},
		{"exp null", at(without("exp")(`"exp":null`)), ErrMalformed},
		{"exp string", at(without("exp")(`"exp":"1700000600"`)), ErrMalformed},
		{"exp fraction", at(without("exp")(`"exp":1700000600.5`)), ErrMalformed},
		{"exp .0", at(without("exp")(`"exp":1700000600.0`)), ErrMalformed},
		{"exp exponent", at(without("exp")(`"exp":1.7e9`)), ErrMalformed},
		{"exp huge", at(without("exp")(`"exp":99999999999999999999999`)), ErrMalformed},
		{"exp 2^53", at(without("exp")(`"exp":9007199254740992`)), ErrMalformed},
		{"exp 2^53-1", at(without("exp")(`"exp":9007199254740991`)), nil},
		{"exp leading zero", at(without("exp")(`"exp":01700000600`)), ErrMalformed},
		{"exp long ago", at(without("exp")(`"exp":1`)), ErrExpired},
		{"exp negative", at(without("exp")(`"exp":-1`)), ErrExpired},
		{"exp now-31 (beyond leeway)", at(without("exp")(fmt.Sprintf(`"exp":%d`, n-31))), ErrExpired},
		{"exp now-30 (leeway boundary)", at(without("exp")(fmt.Sprintf(`"exp":%d`, n-30))), ErrExpired},
		{"exp now-29 (within leeway)", at(without("exp")(fmt.Sprintf(`"exp":%d`, n-29))), nil},
		{"nbf now+31", at(without("nbf")(fmt.Sprintf(`"nbf":%d`, n+31))), ErrNotYetValid},
		{"nbf now+30", at(without("nbf")(fmt.Sprintf(`"nbf":%d`, n+30))), nil},
		{"nbf absent", at(without("nbf")()), nil},
		{"nbf fraction", at(without("nbf")(`"nbf":1.5`)), ErrMalformed},
		{"iat now+31", at(without("iat")(fmt.Sprintf(`"iat":%d`, n+31))), ErrNotYetValid},
		{"iat now+30", at(without("iat")(fmt.Sprintf(`"iat":%d`, n+30))), nil},
		{"iat absent", at(without("iat")()), nil},
		{"iss wrong", at(without("iss")(`"iss":"https://evil.test"`)), ErrIssuer},
		{"iss prefix", at(without("iss")(`"iss":"https://auth.relay.test.evil"`)), ErrIssuer},
		{"iss case", at(without("iss")(`"iss":"HTTPS://AUTH.RELAY.TEST"`)), ErrIssuer},
		{"iss missing", at(without("iss")()), ErrMissingClaim},
		{"iss empty", at(without("iss")(`"iss":""`)), ErrMissingClaim},
		{"iss array", at(without("iss")(`"iss":["` + testIssuer + `"]`)), ErrMalformed},
		{"aud wrong string", at(without("aud")(`"aud":"other-api"`)), ErrAudience},
		{"aud wrong array", at(without("aud")(`"aud":["other-api","third"]`)), ErrAudience},
		{"aud empty array", at(without("aud")(`"aud":[]`)), ErrAudience},
		{"aud empty string", at(without("aud")(`"aud":""`)), ErrAudience},
		{"aud array with ours", at(without("aud")(`"aud":["other-api","` + testAudience + `"]`)), nil},
		{"aud array single", at(without("aud")(`"aud":["` + testAudience + `"]`)), nil},
		{"aud missing", at(without("aud")()), ErrMissingClaim},
		{"aud number", at(without("aud")(`"aud":1`)), ErrMalformed},
		{"aud array with number", at(without("aud")(`"aud":["` + testAudience + `",1]`)), ErrMalformed},
		{"sub missing", at(without("sub")()), ErrMissingClaim},
		{"sub empty", at(without("sub")(`"sub":""`)), ErrMissingClaim},
		{"sub null", at(without("sub")(`"sub":null`)), ErrMalformed},
		{"sub number", at(without("sub")(`"sub":42`)), ErrMalformed},
		{"sid missing", at(without("sid")()), ErrMissingClaim},
		{"jti missing", at(without("jti")()), ErrMissingClaim},
		{"jti empty", at(without("jti")(`"jti":""`)), ErrMissingClaim},
		{"roles string", at(without()(`"roles":"admin"`)), ErrMalformed},
		{"roles with null", at(without()(`"roles":["admin",null]`)), ErrMalformed},
		{"roles object", at(without()(`"roles":{"admin":true}`)), ErrMalformed},
		{"scope array", at(without()(`"scope":["a","b"]`)), ErrMalformed},
		{"scope double space", at(without()(`"scope":"a  b"`)), ErrMalformed},
		{"scope leading space", at(without()(`"scope":" a"`)), ErrMalformed},
		{"scope with quote", at(without()(`"scope":"a\"b"`)), ErrMalformed},
		{"scope empty", at(without()(`"scope":""`)), nil},
		{"tenant number", at(without()(`"tenant":7`)), ErrMalformed},
		{"claims not an object", at(`["sub"]`), ErrMalformed},
		{"claims trailing garbage", at(claimsJSON() + "x"), ErrMalformed},
		{"claims two objects", at(claimsJSON() + "{}"), ErrMalformed},
		{"claims trailing whitespace", at(claimsJSON() + " \n"), nil},
		{"claims invalid UTF-8", at(without("sub")("\"sub\":\"\xff\"")), ErrMalformed},
		{"claims raw control char", at(without("sub")("\"sub\":\"a\x01b\"")), ErrMalformed},
		{"claims lone surrogate", at(without("sub")(`"sub":"\ud800"`)), ErrMalformed},
		{"claims nested too deep", at(claimsJSON(`"x":` + strings.Repeat("[", 16) + strings.Repeat("]", 16))), ErrMalformed},
		{"claims nested at limit", at(claimsJSON(`"x":` + strings.Repeat("[", 15) + strings.Repeat("]", 15))), nil},
		{"typ refresh to VerifyAccess", signRaw(t, hs, hdr(hs, "rt+jwt"), claimsJSON()), ErrWrongType},
		{"typ missing", signRaw(t, hs, fmt.Sprintf(`{"alg":"HS256","kid":%q}`, hs.kid), claimsJSON()), ErrWrongType},
		{"typ JWT", signRaw(t, hs, hdr(hs, "JWT"), claimsJSON()), ErrWrongType},
		{"typ AT+JWT", signRaw(t, hs, hdr(hs, "AT+JWT"), claimsJSON()), ErrWrongType},
		{"typ application/at+jwt", signRaw(t, hs, hdr(hs, "application/at+jwt"), claimsJSON()), nil},
		{"typ number", signRaw(t, hs, fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":1}`, hs.kid), claimsJSON()), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyAccess(tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}

	t.Run("access and refresh are mutually exclusive", func(t *testing.T) {
		iss := NewIssuer(v.ks, testIssuer, []string{testAudience})
		c := Claims{Subject: "u", SessionID: "s", ID: "j", ExpiresAt: testNow + 60, IssuedAt: testNow}
		c.Type = Access
		access, err := iss.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		c.Type = Refresh
		refresh, err := iss.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := v.VerifyAccess(access); err != nil || got.Type != Access {
			t.Fatalf("access as access: %v %v", got.Type, err)
		}
		if got, err := v.VerifyRefresh(refresh); err != nil || got.Type != Refresh {
			t.Fatalf("refresh as refresh: %v %v", got.Type, err)
		}
		_, err = v.VerifyAccess(refresh)
		wantErr(t, err, ErrWrongType)
		_, err = v.VerifyRefresh(access)
		wantErr(t, err, ErrWrongType)
		_, err = v.Verify(access, 0)
		wantErr(t, err, ErrWrongType)
		_, err = v.Verify(access, 3)
		wantErr(t, err, ErrWrongType)
	})
	t.Run("verifier without issuer or audience fails closed", func(t *testing.T) {
		tok := at(claimsJSON())
		_, err := NewVerifier(v.ks, "", testAudience, WithClock(fixedClock)).VerifyAccess(tok)
		wantErr(t, err, ErrIssuer)
		_, err = NewVerifier(v.ks, testIssuer, "", WithClock(fixedClock)).VerifyAccess(tok)
		wantErr(t, err, ErrAudience)
		_, err = NewVerifier(nil, testIssuer, testAudience).VerifyAccess(tok)
		wantErr(t, err, ErrUnknownKey)
	})
	t.Run("leeway option", func(t *testing.T) {
		tok := at(without("exp")(fmt.Sprintf(`"exp":%d`, n-5)))
		_, err := testVerifier(v.ks, WithLeeway(0)).VerifyAccess(tok)
		wantErr(t, err, ErrExpired)
		if _, err := testVerifier(v.ks, WithLeeway(10*time.Second)).VerifyAccess(tok); err != nil {
			t.Fatal(err)
		}
		// Clamped: a day of leeway is 5 minutes.
		old := at(without("exp")(fmt.Sprintf(`"exp":%d`, n-301)))
		_, err = testVerifier(v.ks, WithLeeway(24*time.Hour)).VerifyAccess(old)
		wantErr(t, err, ErrExpired)
		// Negative is zero.
		_, err = testVerifier(v.ks, WithLeeway(-time.Hour)).VerifyAccess(tok)
		wantErr(t, err, ErrExpired)
	})
	t.Run("clock moves", func(t *testing.T) {
		tok := at(claimsJSON())
		now := time.Unix(testNow, 0)
		clocked := NewVerifier(v.ks, testIssuer, testAudience, WithClock(func() time.Time { return now }))
		if _, err := clocked.VerifyAccess(tok); err != nil {
			t.Fatal(err)
		}
		now = now.Add(631 * time.Second) // exp is now+600, leeway 30
		_, err := clocked.VerifyAccess(tok)
		wantErr(t, err, ErrExpired)
	})
}

// Item 9: a token both expired and badly signed is ErrSignature on every
// path, never ErrExpired (CVE-2024-51744: callers that check "expired"
// first must never see a forged token as merely expired).
func TestSecurity09_ForgedAndExpired(t *testing.T) {
	v, hs, ed, es := securityVerifier(t)
	expired := claimsWithout([]string{"exp"}, `"exp":1`)
	for _, k := range []*Key{hs, ed, es} {
		t.Run(string(k.alg), func(t *testing.T) {
			tok := signRaw(t, k, hdr(k, "at+jwt"), expired)
			_, err := v.VerifyAccess(tok)
			wantErr(t, err, ErrExpired) // control: correctly signed and expired

			dot := strings.LastIndexByte(tok, '.')
			sig := b64urlBytes(t, tok[dot+1:])
			sig[0] ^= 1
			forged := tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
			for _, verify := range []func(string) (Claims, error){v.VerifyAccess, v.VerifyRefresh} {
				_, err := verify(forged)
				wantErr(t, err, ErrSignature)
				if errors.Is(err, ErrExpired) {
					t.Fatal("forged token reported as expired")
				}
			}
			_, err = VerifyJWS(v.ks, forged, 0)
			wantErr(t, err, ErrSignature)

			// Also forged by re-signing with another key of the same alg.
			other, _ := GenerateKey(k.alg)
			other.kid = k.kid
			_, err = v.VerifyAccess(signRaw(t, other, hdr(k, "at+jwt"), expired))
			wantErr(t, err, ErrSignature)
			// And with the payload swapped under a valid signature.
			good := signRaw(t, k, hdr(k, "at+jwt"), claimsJSON())
			parts := strings.Split(good, ".")
			_, err = v.VerifyAccess(parts[0] + "." + b64(expired) + "." + parts[2])
			wantErr(t, err, ErrSignature)
		})
	}
	t.Run("expired and unsigned", func(t *testing.T) {
		tok := b64(fmt.Sprintf(`{"alg":"none","kid":%q,"typ":"at+jwt"}`, hs.kid)) + "." + b64(expired) + "."
		_, err := v.VerifyAccess(tok)
		wantErr(t, err, ErrAlgorithm)
	})
	t.Run("expired and unknown key", func(t *testing.T) {
		other, _ := GenerateKey(HS256)
		_, err := v.VerifyAccess(signRaw(t, other, hdr(other, "at+jwt"), expired))
		wantErr(t, err, ErrUnknownKey)
	})
}

// Item 10: HS256 keys are at least 32 random bytes.
func TestSecurity10_HS256KeyStrength(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
	}{
		{"empty", nil},
		{"31 bytes", []byte(strings.Repeat("k", 31))},
		{"password", []byte("correct horse battery staple")},
		{"your-256-bit-secret", []byte("your-256-bit-secret")},
		{"32 zero bytes", make([]byte, 32)},
		{"32 x 'a'", []byte(strings.Repeat("a", 32))},
		{"abc repeated", []byte(strings.Repeat("abc", 11))},
		{"7 distinct values", []byte(strings.Repeat("abcdefg", 5))},
		{"a repeated password", []byte("Password1Password1Password1Passw")},
		{"hunter2 four times", []byte(strings.Repeat("hunter2!", 4))},
		{"8 letters repeated", []byte(strings.Repeat("abcdefgh", 4))},
		{"15 distinct values", []byte(strings.Repeat("0123456789abcde", 3))},
		{"printable with many distinct values", []byte("0123456789abcdefghijklmnopqrstuv")},
		{"a passphrase", []byte("my-company-jwt-signing-passphrase!")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewHS256Key(tc.secret)
			if err == nil || k != nil {
				t.Fatal("weak secret accepted")
			}
			if len(tc.secret) > 0 && strings.Contains(err.Error(), string(tc.secret)) {
				t.Fatal("error text contains the secret")
			}
			if _, err := ParsePrivateKey(HS256, tc.secret); err == nil {
				t.Fatal("ParsePrivateKey accepted a weak secret")
			}
		})
	}
	if _, err := NewHS256Key(testSecret); err != nil {
		t.Fatalf("32 distinct bytes refused: %v", err)
	}
	k, err := GenerateKey(HS256)
	if err != nil {
		t.Fatal(err)
	}
	st := k.mac.pool.Get().(*macState)
	if st.h.Size() != 32 {
		t.Fatal("not HMAC-SHA256")
	}
	if _, err := NewPublicKey(HS256, "kid", testSecret); err == nil {
		t.Fatal("NewPublicKey accepted an HMAC key")
	}
	_ = ed25519.PublicKeySize
}
