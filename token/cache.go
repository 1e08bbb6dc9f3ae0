package token

import (
	"hash/maphash"
	"sync"
	"unsafe"
)

// WithCache makes the Verifier remember up to size access tokens that
// verified, so that verifying one of them again skips the signature and
// the parse, which are most of the cost of a verification. Refresh tokens
// are used once and never remembered. Off by default.
//
// A hit requires the presented token to equal a remembered one byte for
// byte (compared in constant time), of the type asked for, and its time
// claims to pass against the clock now (exp, nbf, iat, with the leeway);
// anything else is verified in full, so the answers, errors included,
// are the ones an uncached Verifier gives. Only tokens that verified are
// remembered, so garbage cannot fill the cache, and the claims are
// copied out on every hit, so no caller can change another's. A Verifier's
// key set and its issuer and audience never change (rotation makes a new
// Verifier), so a remembered token stays as valid as its time claims.
// Revocation is not the token's business: callers check the session
// either way.
//
// Memory: about one kilobyte per remembered token, the token included.
// Values outside [0, MaxCacheSize] are clamped.
func WithCache(size int) VerifierOption {
	return func(v *Verifier) {
		size = min(max(size, 0), MaxCacheSize)
		if size == 0 {
			v.cache = nil
			return
		}
		v.cache = newVerifyCache(size)
	}
}

// MaxCacheSize bounds WithCache.
const MaxCacheSize = 1 << 20

const cacheShards = 16

// verifyCache maps a token's seeded hash to what verifying it gave. The
// map is sharded so that concurrent hits on different tokens rarely meet
// on a lock.
type verifyCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cached
	// Pads the shard to a 64-byte cache line, so that neighbouring
	// shards' locks do not share one.
	_ [64 - unsafe.Sizeof(sync.RWMutex{}) - unsafe.Sizeof(map[uint64]*cached(nil))]byte
}

// cached is one verified token. Never modified after it is stored.
type cached struct {
	token  string
	claims Claims // its Audience, Roles and Scopes are never handed out
}

func newVerifyCache(size int) *verifyCache {
	c := &verifyCache{seed: maphash.MakeSeed(), perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cached)
	}
	return c
}

func (c *verifyCache) shard(token string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, token)
	return &c.shards[h%cacheShards], h
}

// get returns the entry remembered for exactly token, or nil.
func (c *verifyCache) get(token string) *cached {
	s, h := c.shard(token)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || !constantTimeEqual(e.token, token) {
		return nil
	}
	return e
}

// put remembers that token verified as claims. The claims' lists are
// copied: the caller's may live in its own storage.
func (c *verifyCache) put(token string, claims *Claims) {
	e := &cached{token: token, claims: *claims}
	n := len(claims.Audience) + len(claims.Roles) + len(claims.Scopes)
	if n > 0 {
		list := make([]string, 0, n)
		e.claims.Audience, list = appendClip(list, claims.Audience)
		e.claims.Roles, list = appendClip(list, claims.Roles)
		e.claims.Scopes, _ = appendClip(list, claims.Scopes)
	}
	s, h := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		for k := range s.m { // an arbitrary entry: map order is random
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
}

// forget drops the entry of token if it is still the one remembered.
func (c *verifyCache) forget(token string, e *cached) {
	s, h := c.shard(token)
	s.mu.Lock()
	if s.m[h] == e {
		delete(s.m, h)
	}
	s.mu.Unlock()
}

// appendClip appends s to list and returns the appended part, with its
// capacity equal to its length (nil when s is empty), and list.
func appendClip(list, s []string) ([]string, []string) {
	if len(s) == 0 {
		return nil, list
	}
	start := len(list)
	list = append(list, s...)
	return list[start:len(list):len(list)], list
}

// fill fills c from e, copying the lists into list when they fit there.
func (e *cached) fill(c *Claims, list []string) {
	*c = e.claims
	n := len(c.Audience) + len(c.Roles) + len(c.Scopes)
	if n == 0 {
		return
	}
	if len(list) < n {
		list = make([]string, 0, n)
	} else {
		list = list[:0]
	}
	c.Audience, list = appendClip(list, e.claims.Audience)
	c.Roles, list = appendClip(list, e.claims.Roles)
	c.Scopes, _ = appendClip(list, e.claims.Scopes)
}

// constantTimeEqual compares two tokens without an early exit, so the
// time taken says nothing of where they first differ. It compares eight
// bytes at a time: byte by byte, it was most of the cost of a hit.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		d |= load64(a[i:]) ^ load64(b[i:])
	}
	for ; i < len(a); i++ {
		d |= uint64(a[i] ^ b[i])
	}
	return d == 0
}

// load64 reads the first eight bytes of s as one word: the compiler
// merges the byte loads into one.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
