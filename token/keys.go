package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// Alg is a JWS algorithm name (RFC 7518 §3.1, RFC 8037 §3.1). Each Key has
// exactly one; a token verifies only under a key of its own alg.
type Alg string

// The supported algorithms. There is deliberately no "none" and no RSA.
const (
	HS256 Alg = "HS256"
	EdDSA Alg = "EdDSA"
	ES256 Alg = "ES256"
)

// MinHS256SecretSize is the shortest HS256 secret accepted: 32 bytes, the
// SHA-256 output size (RFC 7518 §3.2, security.md item 10).
const MinHS256SecretSize = 32

// maxKIDSize bounds caller-chosen key ids (NewPublicKey).
const maxKIDSize = 256

// Key is one signing and/or verification key with its key id (kid) and its
// algorithm. Keys are immutable and safe for concurrent use. A Key prints as
// its kid and alg only: fmt (every verb), slog and encoding/json never show
// key material.
type Key struct {
	kid    string
	alg    Alg
	mac    *hmacKey // HS256
	edPriv ed25519.PrivateKey
	edPub  ed25519.PublicKey
	ecPriv *ecdsa.PrivateKey
	ecPub  *ecdsa.PublicKey
	// headers caches the encoded protected header per token type, so that
	// Issue does no JSON work for the header.
	headers [3]string
}

// Why CheckHS256Secret refuses a secret. The texts never include it.
var (
	ErrSecretShort     = fmt.Errorf("token: HS256 secret must be at least %d bytes", MinHS256SecretSize)
	ErrSecretNotRandom = fmt.Errorf("token: HS256 secret is not random (fewer than %d distinct byte values)", minDistinctBytes)
	ErrSecretText      = errors.New("token: HS256 secret is printable text, like a password, not random bytes")
)

// minDistinctBytes: 32 random bytes take about 30 distinct values and
// fewer than 16 with a probability below 10^-9; "Password1Password1…" or
// "hunter2!hunter2!…" take 8 or 9.
const minDistinctBytes = 16

// CheckHS256Secret reports why secret cannot be an HS256 key (security.md
// item 10: at least 32 random bytes, never a password), or nil. Randomness
// cannot be proven; these are the mistakes it can see: a short secret, one
// of few distinct byte values (zeros, a repeated word), and printable text,
// which 32 random bytes are with probability (95/256)^32 ≈ 10^-14.
func CheckHS256Secret(secret []byte) error {
	switch {
	case len(secret) < MinHS256SecretSize:
		return ErrSecretShort
	case distinctBytes(secret) < minDistinctBytes:
		return ErrSecretNotRandom
	case printable(secret):
		return ErrSecretText
	}
	return nil
}

// NewHS256Key returns an HMAC-SHA256 key for secret, which
// CheckHS256Secret must accept. The kid is derived from the secret with a
// one-way, domain-separated hash and reveals nothing about it.
func NewHS256Key(secret []byte) (*Key, error) {
	if err := CheckHS256Secret(secret); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("relayauth kid v1"), secret...))
	return newHMACKey(base64.RawURLEncoding.EncodeToString(sum[:16]), secret), nil
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func distinctBytes(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// newHMACKey builds an HS256 key with an explicit kid and no checks: for
// NewHS256Key and for tests that replay external vectors.
func newHMACKey(kid string, secret []byte) *Key {
	k := &Key{kid: kid, alg: HS256, mac: newHMAC(secret)}
	k.cacheHeaders()
	return k
}

// NewEdDSAKey returns an Ed25519 signing key whose kid is its RFC 7638 JWK
// thumbprint.
func NewEdDSAKey(priv ed25519.PrivateKey) (*Key, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("token: Ed25519 private key has the wrong size")
	}
	// Recompute the public half from the seed: a key whose stored public
	// half does not match would sign tokens no one can verify.
	fresh := ed25519.NewKeyFromSeed(priv.Seed())
	if !fresh.Equal(priv) {
		return nil, errors.New("token: Ed25519 private key is inconsistent")
	}
	pub := fresh.Public().(ed25519.PublicKey)
	k := &Key{kid: thumbprintOKP(pub), alg: EdDSA, edPriv: fresh, edPub: pub}
	k.cacheHeaders()
	return k, nil
}

// NewES256Key returns an ECDSA P-256 signing key whose kid is its RFC 7638
// JWK thumbprint. Other curves are refused.
func NewES256Key(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("token: ES256 needs a P-256 private key")
	}
	raw, err := priv.Bytes()
	if err != nil {
		return nil, errors.New("token: invalid P-256 private key")
	}
	// Re-parse to validate the scalar and recompute the public point.
	fresh, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil || !fresh.PublicKey.Equal(&priv.PublicKey) {
		return nil, errors.New("token: invalid P-256 private key")
	}
	pub := &fresh.PublicKey
	kid, err := thumbprintEC(pub)
	if err != nil {
		return nil, err
	}
	k := &Key{kid: kid, alg: ES256, ecPriv: fresh, ecPub: pub}
	k.cacheHeaders()
	return k, nil
}

// ParsePrivateKey builds a signing key from stored material: for HS256 the
// raw secret bytes, for EdDSA and ES256 a PKCS #8 DER private key whose type
// must match alg.
func ParsePrivateKey(alg Alg, material []byte) (*Key, error) {
	switch alg {
	case HS256:
		return NewHS256Key(material)
	case EdDSA, ES256:
	default:
		return nil, errors.New("token: unsupported alg")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return nil, errors.New("token: invalid PKCS #8 private key")
	}
	switch priv := parsed.(type) {
	case ed25519.PrivateKey:
		if alg == EdDSA {
			return NewEdDSAKey(priv)
		}
	case *ecdsa.PrivateKey:
		if alg == ES256 {
			return NewES256Key(priv)
		}
	}
	return nil, fmt.Errorf("token: PKCS #8 key does not match alg %s", alg)
}

// NewPublicKey returns a verify-only key registered under kid, for
// verifiers that hold only public keys (for example from a JWKS). pub must be
// an ed25519.PublicKey for EdDSA or a P-256 *ecdsa.PublicKey for ES256.
// HS256 is refused: an HMAC key is never public.
func NewPublicKey(alg Alg, kid string, pub crypto.PublicKey) (*Key, error) {
	if kid == "" || len(kid) > maxKIDSize || !utf8.ValidString(kid) {
		return nil, errors.New("token: kid must be 1 to 256 bytes of UTF-8")
	}
	var k *Key
	switch alg {
	case EdDSA:
		p, ok := pub.(ed25519.PublicKey)
		if !ok || len(p) != ed25519.PublicKeySize {
			return nil, errors.New("token: EdDSA needs a 32-byte ed25519.PublicKey")
		}
		if smallOrder(p) {
			return nil, errors.New("token: invalid Ed25519 public key (a point of small order)")
		}
		k = &Key{kid: kid, alg: EdDSA, edPub: append(ed25519.PublicKey(nil), p...)}
	case ES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok || p == nil || p.Curve != elliptic.P256() {
			return nil, errors.New("token: ES256 needs a P-256 *ecdsa.PublicKey")
		}
		// Round-trip through the encoding to reject points not on the curve.
		raw, err := p.Bytes()
		if err != nil {
			return nil, errors.New("token: invalid P-256 public key")
		}
		q, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, errors.New("token: invalid P-256 public key")
		}
		k = &Key{kid: kid, alg: ES256, ecPub: q}
	case HS256:
		return nil, errors.New("token: HS256 keys are secret; use NewHS256Key")
	default:
		return nil, errors.New("token: unsupported alg")
	}
	k.cacheHeaders()
	return k, nil
}

// GenerateKey returns a fresh random signing key (for `serve --dev` and
// tests): 32 bytes from crypto/rand for HS256, a new key pair otherwise.
func GenerateKey(alg Alg) (*Key, error) {
	switch alg {
	case HS256:
		secret := make([]byte, MinHS256SecretSize)
		for {
			if _, err := rand.Read(secret); err != nil {
				return nil, err
			}
			// Practically never loops: see CheckHS256Secret.
			if k, err := NewHS256Key(secret); err == nil {
				return k, nil
			}
		}
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewEdDSAKey(priv)
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewES256Key(priv)
	}
	return nil, errors.New("token: unsupported alg")
}

// ID returns the key id, the "kid" header of tokens signed with the key.
func (k *Key) ID() string { return k.kid }

// Alg returns the key's algorithm.
func (k *Key) Alg() Alg { return k.alg }

// canSign reports whether k holds signing material.
func (k *Key) canSign() bool { return k.mac != nil || k.edPriv != nil || k.ecPriv != nil }

// MarshalPKCS8 returns the PKCS #8 DER encoding of an EdDSA or ES256 private
// key, the format ParsePrivateKey reads. It fails for HS256 keys (store the
// raw secret instead) and for verify-only keys.
func (k *Key) MarshalPKCS8() ([]byte, error) {
	switch {
	case k.edPriv != nil:
		return x509.MarshalPKCS8PrivateKey(k.edPriv)
	case k.ecPriv != nil:
		return x509.MarshalPKCS8PrivateKey(k.ecPriv)
	}
	return nil, errors.New("token: only EdDSA and ES256 private keys have a PKCS #8 form")
}

// String returns the kid and alg, never key material.
func (k Key) String() string {
	return "token.Key{kid: " + k.kid + ", alg: " + string(k.alg) + ", [REDACTED]}"
}

// GoString is String, so %#v redacts too.
func (k Key) GoString() string { return k.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, %d, ...) print String:
// without it, verbs such as %d would print the fields, secrets included.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue logs the kid and alg only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.String("alg", string(k.alg)))
}

// cacheHeaders precomputes the protected header of each token type.
func (k *Key) cacheHeaders() {
	for _, t := range []Type{Access, Refresh} {
		h := []byte(`{"alg":`)
		h, _ = appendJSONString(h, string(k.alg))
		h = append(h, `,"kid":`...)
		h, _ = appendJSONString(h, k.kid)
		h = append(h, `,"typ":`...)
		h, _ = appendJSONString(h, t.mediaType())
		h = append(h, '}')
		k.headers[t] = string(b64Append(nil, h))
	}
}

// sign returns the signature of msg.
func (k *Key) sign(msg []byte) ([]byte, error) {
	switch {
	case k.mac != nil:
		return k.mac.sign(nil, msg), nil
	case k.edPriv != nil:
		return ed25519.Sign(k.edPriv, msg), nil
	case k.ecPriv != nil:
		return signES256(k.ecPriv, msg)
	}
	return nil, errors.New("token: key cannot sign")
}

// verify reports whether sig is a valid signature of msg under k.
func (k *Key) verify(msg, sig []byte) bool {
	switch k.alg {
	case HS256:
		return k.mac.verify(msg, sig)
	case EdDSA:
		return verifyEd25519(k.edPub, msg, sig)
	case ES256:
		return verifyES256(k.ecPub, msg, sig)
	}
	return false
}

// sigSize is the signature length of alg in bytes.
func sigSize(alg Alg) int {
	if alg == HS256 {
		return sha256.Size
	}
	return 64 // Ed25519, and P-256 r||s (RFC 7518 §3.4)
}

// thumbprintOKP is the RFC 7638 thumbprint of an Ed25519 key (RFC 8037 §2):
// SHA-256 over the required members in lexicographic order, no whitespace.
func thumbprintOKP(pub ed25519.PublicKey) string {
	j := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(j))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// thumbprintEC is the RFC 7638 thumbprint of a P-256 key.
func thumbprintEC(pub *ecdsa.PublicKey) (string, error) {
	x, y, err := ecCoordinates(pub)
	if err != nil {
		return "", err
	}
	j := `{"crv":"P-256","kty":"EC","x":"` + base64.RawURLEncoding.EncodeToString(x) +
		`","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`
	sum := sha256.Sum256([]byte(j))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// ecCoordinates returns the 32-byte big-endian x and y of a P-256 point.
func ecCoordinates(pub *ecdsa.PublicKey) (x, y []byte, err error) {
	raw, err := pub.Bytes() // 0x04 || x || y
	if err != nil || len(raw) != 65 {
		return nil, nil, errors.New("token: invalid P-256 public key")
	}
	return raw[1:33], raw[33:], nil
}
