package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Key is the record of an API key: what stores keep. It never holds the
// key itself, only its Hash and MaskedKey. The JSON form is the one the
// file store writes.
//
// A key is live when it is neither revoked nor expired. After a rotation
// the previous secret (PrevHash) keeps working until PrevValidUntil, so
// clients can switch over without an outage.
type Key struct {
	// ID is the key's public, random identifier ("key_" and 16 base62
	// characters). It names the key in the API and in logs.
	ID string `json:"id"`
	// Name is unique within the tenant: 1 to 64 printable characters.
	Name   string   `json:"name"`
	Tenant string   `json:"tenant"`
	Scopes []string `json:"scopes,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	// Env is the environment written into the key.
	Env Env `json:"env"`
	// Hash is the SHA-256 of the current secret.
	Hash Hash `json:"hash,omitzero"`
	// MaskedKey is Mask of the current secret, for display.
	MaskedKey string    `json:"masked_key"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the key was revoked; zero means it was not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is when a Verify last accepted the key, to within the
	// Manager's flush interval; stores only ever move it forward.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// PrevHash is the SHA-256 of the secret before the last rotation, or
	// zero. That secret works until PrevValidUntil.
	PrevHash       Hash      `json:"prev_hash,omitzero"`
	PrevValidUntil time.Time `json:"prev_valid_until,omitzero"`
	// RotatedAt is when the secret was last rotated; zero means never.
	RotatedAt time.Time `json:"rotated_at,omitzero"`
}

// Revoked reports whether k was revoked.
func (k *Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// Expired reports whether k has expired at now.
func (k *Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Clone returns a deep copy of k, so a store's record and its callers'
// copies never share a slice.
func (k Key) Clone() Key {
	k.Scopes = slices.Clone(k.Scopes)
	k.Roles = slices.Clone(k.Roles)
	return k
}

// Limits on a key's fields.
const (
	MaxNameLen      = 64  // characters
	MaxTenantLen    = 128 // bytes
	MaxScopes       = 32  // per key, and as many roles
	MaxScopeLen     = 128 // bytes
	MaxCreatedByLen = 256 // bytes
)

// Validate reports every reason a store cannot record k, joined in one
// error that wraps ErrInvalid. The messages name the field and the rule,
// never its value.
func (k *Key) Validate() error {
	if errs := k.problems(); len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func (k *Key) problems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ValidID(k.ID) {
		bad("id must be %q followed by %d base62 characters", idPrefix, idLen)
	}
	if !validName(k.Name) {
		bad("name must be 1 to %d printable characters, without leading or trailing spaces", MaxNameLen)
	}
	if !ValidTenant(k.Tenant) {
		bad("tenant must be 1 to %d characters of A-Z a-z 0-9 . _ : @ + -, starting with a letter or digit", MaxTenantLen)
	}
	if err := validList("scopes", k.Scopes); err != nil {
		errs = append(errs, err)
	}
	if err := validList("roles", k.Roles); err != nil {
		errs = append(errs, err)
	}
	if !k.Env.Valid() {
		bad("env must be %q or %q", EnvLive, EnvTest)
	}
	if k.Hash.IsZero() {
		bad("hash is missing")
	}
	if !validMask(k.MaskedKey, k.Env) {
		bad("masked_key must be the masked form of a key of the record's environment")
	}
	if len(k.CreatedBy) > MaxCreatedByLen || !printable(k.CreatedBy) {
		bad("created_by must be at most %d printable bytes", MaxCreatedByLen)
	}
	if k.CreatedAt.IsZero() {
		bad("created_at is missing")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{
		{"created_at", k.CreatedAt}, {"expires_at", k.ExpiresAt}, {"revoked_at", k.RevokedAt},
		{"last_used_at", k.LastUsedAt}, {"prev_valid_until", k.PrevValidUntil}, {"rotated_at", k.RotatedAt},
	} {
		if !f.t.IsZero() && !inRange(f.t) {
			bad("%s is outside the years 1678 to 2262", f.name)
		}
	}
	if !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(k.CreatedAt) {
		bad("expires_at must be after created_at")
	}
	switch {
	case k.PrevHash.IsZero() != k.PrevValidUntil.IsZero():
		bad("prev_hash and prev_valid_until go together")
	case !k.PrevHash.IsZero() && k.PrevHash == k.Hash:
		bad("prev_hash equals hash")
	}
	return errs
}

// The years in which a time.Time has a Unix-nanosecond form, the form the
// Redis store keeps last-used times in.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func inRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// Key ids: "key_" and 16 base62 characters (about 95 random bits: ids are
// public, so they need to be unique and unguessable enough to not invite
// enumeration, not secret).
const (
	idPrefix = "key_"
	idLen    = 16
)

// NewID returns a new random key id.
func NewID() string {
	var b [len(idPrefix) + idLen]byte
	copy(b[:], idPrefix)
	fillBase62(b[len(idPrefix):])
	return string(b[:])
}

// fillBase62 fills dst with uniformly random base62 characters (rejection
// sampling: bytes of 248 and above are drawn again, so there is no
// modulo bias).
func fillBase62(dst []byte) {
	var buf [32]byte
	for i := 0; i < len(dst); {
		rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, c := range buf {
			if c < 248 && i < len(dst) {
				dst[i] = alphabet[c%62]
				i++
			}
		}
	}
}

// ValidID reports whether id has the shape of a key id. Stores answer
// ErrNotFound for anything else without looking.
func ValidID(id string) bool {
	if len(id) != len(idPrefix)+idLen || !strings.HasPrefix(id, idPrefix) {
		return false
	}
	for i := len(idPrefix); i < len(id); i++ {
		if !isBase62[id[i]] {
			return false
		}
	}
	return true
}

// ValidTenant reports whether t matches ^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$.
func ValidTenant(t string) bool { return validToken(t, MaxTenantLen, false) }

// validToken checks the tenant charset; scopes and roles also allow '_'
// (as in "api_keys:read" and "tenant_admin").
func validToken(s string, maxLen int, underscore bool) bool {
	if len(s) == 0 || len(s) > maxLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c), c == '.', c == ':', c == '@', c == '+', c == '-':
		case c == '_' && underscore:
		default:
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// validList checks a scope or role list: at most MaxScopes entries, each
// 1 to MaxScopeLen bytes of ^[A-Za-z0-9][A-Za-z0-9._:@+_-]*$, no
// duplicates.
func validList(field string, list []string) error {
	if len(list) > MaxScopes {
		return fmt.Errorf("%s: at most %d", field, MaxScopes)
	}
	for i, s := range list {
		if !validToken(s, MaxScopeLen, true) {
			return fmt.Errorf("%s: entry %d must be 1 to %d characters of A-Z a-z 0-9 . _ : @ + -, starting with a letter or digit", field, i, MaxScopeLen)
		}
		if slices.Contains(list[:i], s) {
			return fmt.Errorf("%s: entry %d is a duplicate", field, i)
		}
	}
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > MaxNameLen*utf8.UTFMax || utf8.RuneCountInString(n) > MaxNameLen {
		return false
	}
	if strings.TrimSpace(n) != n {
		return false
	}
	return printable(n)
}

// printable reports whether s is valid UTF-8 of printable characters
// (spaces included; control characters, which can forge log lines, not).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
