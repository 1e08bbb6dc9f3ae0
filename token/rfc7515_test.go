package token

import (
	"errors"
	"testing"
)

// RFC 7515 Appendix A: the specification's own examples.

const (
	// A.1.1 JWK "k" of the HMAC key.
	rfc7515A1Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	// A.1.1 complete JWS. Its header {"typ":"JWT",\r\n "alg":"HS256"} has no
	// kid, so it is verified with the key given directly.
	rfc7515A1Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7515A1Payload = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
	rfc7515A1Exp     = 1300819380
	// A.5 unsecured JWS: alg "none" and an empty signature.
	rfc7515A5Token = "eyJhbGciOiJub25lIn0" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
)

func TestRFC7515AppendixA1HS256(t *testing.T) {
	key := newHMACKey("", b64urlBytes(t, rfc7515A1Key))
	payload, err := verifyJWS(nil, key, rfc7515A1Token, DefaultMaxTokenSize)
	if err != nil {
		t.Fatalf("A.1 does not verify: %v", err)
	}
	if string(payload) != rfc7515A1Payload {
		t.Fatalf("payload = %q", payload)
	}

	// The claims, with a fixed clock on each side of exp (no leeway).
	var rc rawClaims
	var list [maxListItems]span
	var seen memberSet
	if err := parseClaims(payload, &list, &seen, &rc); err != nil {
		t.Fatal(err)
	}
	if got := string(payload[rc.iss.start:rc.iss.end]); got != "joe" || rc.exp != rfc7515A1Exp {
		t.Fatalf("iss %q exp %d", got, rc.exp)
	}
	if err := checkTimes(&rc, rfc7515A1Exp-1, 0); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	if err := checkTimes(&rc, rfc7515A1Exp, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("at exp: %v, want ErrExpired", err)
	}

	// Through the public API the same token fails: kid is required.
	ks, err := NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJWS(ks, rfc7515A1Token, 0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("without kid: %v, want ErrUnknownKey", err)
	}
	// And any change to the token breaks it.
	tampered := rfc7515A1Token[:len(rfc7515A1Token)-1] + "Y"
	if _, err := verifyJWS(nil, key, tampered, DefaultMaxTokenSize); err == nil {
		t.Fatal("tampered A.1 verified")
	}
}

func TestRFC7515AppendixA5UnsecuredRejected(t *testing.T) {
	key := newHMACKey("", b64urlBytes(t, rfc7515A1Key))
	if _, err := verifyJWS(nil, key, rfc7515A5Token, DefaultMaxTokenSize); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("A.5 with a key: %v, want ErrAlgorithm", err)
	}
	ks, err := NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJWS(ks, rfc7515A5Token, 0); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("A.5 via key set: %v, want ErrAlgorithm", err)
	}
}
