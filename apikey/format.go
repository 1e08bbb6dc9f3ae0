package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/relayauth/relayauth"
)

// The key format, modelled on GitHub's tokens:
//
//	rk_<env>_<body><checksum>
//
// env is "live" or "test"; body is 192 bits from crypto/rand written as 33
// base62 digits (62^33 > 2^192, so every value fits and the length is
// fixed); checksum is the CRC-32 (IEEE) of everything before it, as 6
// base62 digits. The prefix lets secret scanners find leaked keys and lets
// a human see at a glance which environment a key is for; the checksum
// lets Parse reject typos and guesses without touching any store, and lets
// scanners tell a real key from a look-alike (security.md 15).
const (
	// Length is the length of every key, in bytes.
	Length = prefixLen + bodyLen + checksumLen

	prefixLen   = len("rk_live_")
	bodyLen     = 33
	checksumLen = 6
	bodyBytes   = 24 // 192 bits
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Env is the environment a key belongs to. It is written into the key, so a
// test key presented to production fails before any lookup.
type Env string

const (
	// EnvLive is the environment of production keys: "rk_live_...".
	EnvLive Env = "live"
	// EnvTest is the environment of every other deployment: "rk_test_...".
	EnvTest Env = "test"
)

// EnvFor maps a deployment environment (RELAY_ENV) to a key environment:
// EnvLive for "production", EnvTest for anything else.
func EnvFor(environment string) Env {
	if environment == "production" {
		return EnvLive
	}
	return EnvTest
}

// Valid reports whether e is EnvLive or EnvTest.
func (e Env) Valid() bool { return e == EnvLive || e == EnvTest }

func (e Env) prefix() string { return "rk_" + string(e) + "_" }

// isBase62 marks the bytes of the alphabet.
var isBase62 = func() (t [256]bool) {
	for i := range len(alphabet) {
		t[alphabet[i]] = true
	}
	return t
}()

// Generate returns a new random key of environment env. The key is
// returned as a relayauth.Secret so that it cannot reach a log by
// accident; show it to its owner once and keep only its Hash.
func Generate(env Env) (relayauth.Secret, error) {
	raw, err := generate(rand.Reader, env)
	return relayauth.Secret(raw), err
}

// generate builds a key from r's bytes; tests pass deterministic readers.
func generate(r io.Reader, env Env) (string, error) {
	if !env.Valid() {
		return "", fmt.Errorf("%w: unknown environment %q", ErrInvalid, env)
	}
	var b [bodyBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("apikey: reading randomness: %w", err)
	}
	var k [Length]byte
	copy(k[:], env.prefix())
	encodeBase62(k[prefixLen:prefixLen+bodyLen], b[:])
	putChecksum(k[prefixLen+bodyLen:], crc32String(string(k[:prefixLen+bodyLen])))
	return string(k[:]), nil
}

// encodeBase62 writes the big-endian number in src as len(dst) base62
// digits, most significant first, zero-padded. src is consumed.
func encodeBase62(dst []byte, src []byte) {
	for i := len(dst) - 1; i >= 0; i-- {
		rem := 0
		for j := range src {
			cur := rem<<8 | int(src[j])
			src[j] = byte(cur / 62)
			rem = cur % 62
		}
		dst[i] = alphabet[rem]
	}
}

// putChecksum writes c as checksumLen base62 digits (62^6 > 2^32).
func putChecksum(dst []byte, c uint32) {
	v := uint64(c)
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// Parsed is a key that passed Parse: well-formed, with a matching
// checksum. It holds the key; its String, GoString and LogValue show only
// the masked form.
type Parsed struct {
	// Env is the environment named in the key.
	Env Env
	raw string
}

// Parse checks a presented key's shape and checksum: the "rk_" prefix, a
// known environment, the length, the alphabet, then the checksum. It
// consults no store and allocates nothing, so garbage and guesses cost
// almost nothing. Its errors are ErrMalformed and ErrChecksum; whether the
// environment is the expected one is the caller's check (Manager.Verify
// answers ErrWrongEnvironment).
func Parse(raw string) (Parsed, error) {
	if len(raw) != Length {
		return Parsed{}, ErrMalformed
	}
	var env Env
	var crc uint32
	switch raw[:prefixLen] {
	case "rk_live_":
		env, crc = EnvLive, crcAfterLive
	case "rk_test_":
		env, crc = EnvTest, crcAfterTest
	default:
		return Parsed{}, ErrMalformed
	}
	alphabetOK, checksumOK := checkBody(crc, raw[prefixLen:])
	if !alphabetOK {
		return Parsed{}, ErrMalformed
	}
	if !checksumOK {
		return Parsed{}, ErrChecksum
	}
	return Parsed{Env: env, raw: raw}, nil
}

// Hash returns the SHA-256 of the key, what stores keep and look up.
func (p Parsed) Hash() Hash { return HashOf(p.raw) }

// Masked returns Mask of the key.
func (p Parsed) Masked() string { return Mask(p.raw) }

// String returns the masked key.
func (p Parsed) String() string { return Mask(p.raw) }

// GoString returns the masked key, so %#v does not print it either.
func (p Parsed) GoString() string { return Mask(p.raw) }

// LogValue returns the masked key.
func (p Parsed) LogValue() slog.Value { return slog.StringValue(Mask(p.raw)) }

// Mask returns the form of a key that may be shown and logged: its prefix,
// "…", and its last 4 characters (which belong to the checksum), e.g.
// "rk_live_…x7Qa". It never shows the body. Anything that is not a key of
// the right length keeps at most its prefix.
func Mask(raw string) string {
	for _, env := range [...]Env{EnvLive, EnvTest} {
		if p := env.prefix(); strings.HasPrefix(raw, p) {
			if len(raw) == Length {
				return p + "…" + raw[Length-4:]
			}
			return p + "…"
		}
	}
	return "…"
}

// validMask reports whether m has the shape Mask gives a key of env, so
// that a record can never hold a raw key where a masked one belongs.
func validMask(m string, env Env) bool {
	p := env.prefix() + "…"
	if len(m) != len(p)+4 || !strings.HasPrefix(m, p) {
		return false
	}
	for i := len(p); i < len(m); i++ {
		if !isBase62[m[i]] {
			return false
		}
	}
	return true
}

// Hash is the SHA-256 of a key: what a record keeps instead of the key.
// Keys carry 192 random bits, so a fast hash is right; a slow password
// hash (argon2, bcrypt) would only make every request cost milliseconds
// and turn key verification into a denial-of-service lever.
type Hash [sha256.Size]byte

// HashOf returns the SHA-256 of raw. For a key-sized string it hashes a
// stack copy: sha256.Sum256([]byte(raw)) allocates for strings longer than
// 32 bytes, and this is on every Verify.
func HashOf(raw string) Hash {
	if len(raw) <= Length {
		var buf [Length]byte
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

// IsZero reports whether h is the zero hash, which stands for "none".
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns h in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes h as 64 lowercase hex digits.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(out, h[:])
	return out, nil
}

var errHashText = errors.New("hash is not 64 lowercase hex digits")

// UnmarshalText reads exactly 64 lowercase hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != hex.EncodedLen(len(h)) {
		return errHashText
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errHashText
		}
	}
	_, err := hex.Decode(h[:], b)
	return err
}
