package token

import (
	"errors"
	"strconv"
)

// KeySet is an immutable set of keys indexed by kid: one active key that
// signs, plus previous keys that still verify, so tokens issued before a
// rotation stay valid until their key is dropped (rotation with overlap).
// Keys may differ in alg; each token is checked against its own key's alg.
// Rotate and Without return new sets, so a KeySet can be shared by
// goroutines and swapped atomically by its owner.
type KeySet struct {
	active *Key   // nil for a verification-only set
	keys   []*Key // active first (if any), then previous keys, in order
	byKID  map[string]*Key
	// known maps the encoded protected headers that Issue emits for our
	// keys to their parse result. Verify looks a header segment up here
	// first: identical bytes parse identically, so an exact match may skip
	// base64 and JSON work. Every other header takes the full parser.
	known map[string]knownHeader
}

type knownHeader struct {
	key *Key
	typ Type
}

// NewKeySet returns a set whose active key, which must be able to sign,
// signs new tokens, and in which the previous keys still verify. Two keys
// with the same kid are an error.
func NewKeySet(active *Key, previous ...*Key) (*KeySet, error) {
	if active == nil || !active.canSign() {
		return nil, errors.New("token: the active key must be a signing key")
	}
	return newKeySet(active, append([]*Key{active}, previous...))
}

// NewVerificationKeySet returns a set with no active key, for a verifier
// that holds only public keys (for example parsed from another service's
// JWKS with NewPublicKey). An Issuer cannot sign with it.
func NewVerificationKeySet(keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: empty key set")
	}
	return newKeySet(nil, append([]*Key(nil), keys...))
}

func newKeySet(active *Key, keys []*Key) (*KeySet, error) {
	byKID := make(map[string]*Key, len(keys))
	known := make(map[string]knownHeader, 2*len(keys))
	for _, k := range keys {
		if k == nil {
			return nil, errors.New("token: nil key")
		}
		if _, dup := byKID[k.kid]; dup {
			return nil, errors.New("token: duplicate kid in key set")
		}
		byKID[k.kid] = k
		for _, t := range []Type{Access, Refresh} {
			known[k.headers[t]] = knownHeader{key: k, typ: t}
		}
	}
	return &KeySet{active: active, keys: keys, byKID: byKID, known: known}, nil
}

// Active returns the signing key, or nil for a verification-only set.
func (ks *KeySet) Active() *Key { return ks.active }

// Keys returns every key of the set, the active one first.
func (ks *KeySet) Keys() []*Key { return append([]*Key(nil), ks.keys...) }

// Rotate returns a new set in which next is active and the current active
// key becomes the newest previous key, still verifying tokens it signed.
func (ks *KeySet) Rotate(next *Key) (*KeySet, error) {
	if next == nil || !next.canSign() {
		return nil, errors.New("token: the active key must be a signing key")
	}
	return newKeySet(next, append([]*Key{next}, ks.keys...))
}

// Without returns a new set without the previous key kid: tokens it signed
// stop verifying. The active key cannot be removed; rotate first.
func (ks *KeySet) Without(kid string) (*KeySet, error) {
	if ks.active != nil && ks.active.kid == kid {
		return nil, errors.New("token: cannot remove the active key; rotate first")
	}
	if _, ok := ks.byKID[kid]; !ok {
		return nil, errors.New("token: no such kid in key set")
	}
	keys := make([]*Key, 0, len(ks.keys)-1)
	for _, k := range ks.keys {
		if k.kid != kid {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("token: cannot remove the last key")
	}
	return newKeySet(ks.active, keys)
}

// String names the active kid and the key count, never key material.
func (ks *KeySet) String() string {
	active := ""
	if ks.active != nil {
		active = ks.active.kid
	}
	return "token.KeySet{active: " + active + ", keys: " + strconv.Itoa(len(ks.keys)) + "}"
}
