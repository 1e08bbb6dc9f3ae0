package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// hmacKey is an HS256 secret with a pool of keyed HMAC states. hmac.New
// hashes the key into the inner and outer pads, which costs about as much as
// MACing a whole token; a pooled state is keyed once and only Reset between
// uses.
type hmacKey struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newHMAC(secret []byte) *hmacKey {
	secret = append([]byte(nil), secret...) // the caller's slice may change
	return &hmacKey{pool: sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, secret)}
	}}}
}

// sign appends the HMAC-SHA256 of msg to dst.
func (k *hmacKey) sign(dst, msg []byte) []byte {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(msg)
	dst = append(dst, st.h.Sum(st.sum[:0])...)
	k.pool.Put(st)
	return dst
}

// verify reports whether tag is the full 32-byte HMAC-SHA256 of msg,
// comparing in constant time. Truncated tags are not accepted.
func (k *hmacKey) verify(msg, tag []byte) bool {
	if len(tag) != sha256.Size {
		return false
	}
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(msg)
	ok := hmac.Equal(st.h.Sum(st.sum[:0]), tag)
	k.pool.Put(st)
	return ok
}
