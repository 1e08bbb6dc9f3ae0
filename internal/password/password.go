// Package password hashes and checks passwords with argon2id at OWASP's
// recommended parameters, in constant time, with a bound on how many
// hashes run at once so a login flood cannot starve the rest of the server.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"

	"github.com/relayauth/relayauth"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's first argon2id
// configuration: 19 MiB, 2 iterations, 1 thread.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	hashLen = 32
)

// ErrBusy: too many password checks are running; the caller should answer
// 429/503 rather than queue without bound.
var ErrBusy = fmt.Errorf("password hashing %w", relayauth.ErrUnavailable)

// Hash is an argon2id hash with its salt and parameters.
type Hash struct {
	params Params
	salt   [saltLen]byte
	sum    [hashLen]byte
}

// Hasher computes and checks hashes, at most a fixed number at once.
type Hasher struct {
	params Params
	slots  chan struct{}
	dummy  Hash // checked against for unknown users
}

// NewHasher returns a Hasher that runs at most concurrency hashes at once.
func NewHasher(p Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency)}
	h.dummy.params = p
	_, _ = rand.Read(h.dummy.salt[:])
	_, _ = rand.Read(h.dummy.sum[:])
	return h
}

// Hash hashes pw with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, pw relayauth.Secret) (*Hash, error) {
	out := &Hash{params: h.params}
	if _, err := rand.Read(out.salt[:]); err != nil {
		return nil, err
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	copy(out.sum[:], argon2.IDKey([]byte(pw.Reveal()), out.salt[:], out.params.Time, out.params.Memory, out.params.Threads, hashLen))
	return out, nil
}

// Check reports whether pw matches want. With want nil (an unknown user) it
// still spends a full hash, so the answer takes the same time either way,
// and reports false.
func (h *Hasher) Check(ctx context.Context, want *Hash, pw relayauth.Secret) (bool, error) {
	ref := want
	if ref == nil {
		ref = &h.dummy
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw.Reveal()), ref.salt[:], ref.params.Time, ref.params.Memory, ref.params.Threads, hashLen)
	match := subtle.ConstantTimeCompare(got, ref.sum[:]) == 1
	return match && want != nil, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errors.Join(ErrBusy, ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }
