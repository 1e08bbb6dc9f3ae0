package server

import (
	"crypto/rand"
	"encoding/base64"
)

// newID returns 128 random bits from crypto/rand, base64url: session ids
// and token ids (security.md item 13).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
