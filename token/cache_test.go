package token

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestCacheAnswersLikeTheVerifier: a Verifier WithCache gives, for every
// token and at every moment, the answer of one without: the same claims
// or the same error, whether the token is remembered or not, including
// after the clock passes a remembered token's exp.
func TestCacheAnswersLikeTheVerifier(t *testing.T) {
	k := mustHS256(t)
	ks := mustKeySet(t, k)
	iss := NewIssuer(ks, testIssuer, []string{testAudience})
	issue := func(mod func(*Claims)) string {
		c := fullClaims(Access)
		mod(&c)
		raw, err := iss.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	access := issue(func(*Claims) {})
	refresh := issue(func(c *Claims) { c.Type = Refresh })
	tokens := map[string]string{
		"access":             access,
		"refresh":            refresh,
		"no lists":           issue(func(c *Claims) { c.Roles, c.Scopes = nil, nil }),
		"short-lived":        issue(func(c *Claims) { c.ExpiresAt = testNow + 30 }),
		"expired":            issue(func(c *Claims) { c.IssuedAt, c.NotBefore, c.ExpiresAt = testNow-300, testNow-300, testNow-120 }),
		"not yet valid":      issue(func(c *Claims) { c.NotBefore = testNow + 120 }),
		"issued in future":   issue(func(c *Claims) { c.IssuedAt = testNow + 120 }),
		"last byte changed":  access[:len(access)-1] + string(access[len(access)-1]^1),
		"first byte changed": "f" + access[1:],
		"truncated":          access[:len(access)-1],
		"garbage":            "a.b.c",
		"empty":              "",
		"other audience":     signRaw(t, k, hdr(k, "at+jwt"), claimsWithout([]string{"aud"}, `"aud":"elsewhere"`)),
	}
	var now atomic.Int64
	now.Store(testNow)
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	plain := testVerifier(ks, WithClock(clock))
	cached := testVerifier(ks, WithClock(clock), WithCache(64))
	same := func(moment string) {
		t.Helper()
		for name, tok := range tokens {
			for _, want := range []Type{Access, Refresh} {
				for round := range 2 { // the first may fill the cache, the second may hit it
					pc, perr := plain.Verify(tok, want)
					cc, cerr := cached.Verify(tok, want)
					if fmt.Sprint(perr) != fmt.Sprint(cerr) || !reflect.DeepEqual(pc, cc) {
						t.Errorf("%s, %s as %s, round %d: cached (%+v, %v), uncached (%+v, %v)", moment, name, want, round, cc, cerr, pc, perr)
					}
				}
			}
		}
	}
	same("at issue")
	now.Add(45) // past the short-lived token's exp + leeway
	same("45 s later")
	now.Add(200) // the future ones have come due, the others expired
	same("245 s later")
	now.Store(testNow + 10_000)
	same("after every exp")
	if _, err := cached.VerifyAccess(access); !errors.Is(err, ErrExpired) {
		t.Fatalf("a remembered token after its exp: %v", err)
	}
}

// TestCacheHandsOutCopies: a caller that writes into the lists it got
// changes nothing for the next caller of the same token.
func TestCacheHandsOutCopies(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	tok, _ := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	v := testVerifier(ks, WithCache(8))
	want, err := v.VerifyAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	want.Roles = append([]string(nil), want.Roles...)
	for i := range 3 {
		c, err := v.VerifyAccess(tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Roles[0] != want.Roles[0] {
			t.Fatalf("call %d: roles %q, want %q", i, c.Roles, want.Roles)
		}
		c.Roles[0] = "admin-by-mistake"
		c.Scopes = append(c.Scopes, "everything") // capacity == length: a copy
		list := make([]string, 8)
		var into Claims
		if err := v.VerifyAccessInto(tok, &into, list); err != nil {
			t.Fatal(err)
		}
		if &into.Roles[0] != &list[len(into.Audience)] {
			t.Fatal("a hit did not use the caller's list")
		}
		list[len(into.Audience)] = "overwritten"
	}
}

// TestCacheBounded: however many tokens verify, the cache holds at most
// its size.
func TestCacheBounded(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	iss := NewIssuer(ks, testIssuer, []string{testAudience})
	const size = 32
	v := testVerifier(ks, WithCache(size))
	for i := range 1000 {
		c := fullClaims(Access)
		c.ID = fmt.Sprint("jti-", i)
		tok, _ := iss.Issue(c)
		if _, err := v.VerifyAccess(tok); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for i := range v.cache.shards {
		n += len(v.cache.shards[i].m)
	}
	if n == 0 || n > size {
		t.Fatalf("cache holds %d entries, bound %d", n, size)
	}
	for _, size := range []int{-1, 0} {
		if v := testVerifier(ks, WithCache(size)); v.cache != nil {
			t.Fatalf("WithCache(%d) made a cache", size)
		}
	}
}

// TestCacheConcurrent: verifications of overlapping tokens from many
// goroutines, with evictions and a moving clock (run under -race).
func TestCacheConcurrent(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	iss := NewIssuer(ks, testIssuer, []string{testAudience})
	toks := make([]string, 40)
	for i := range toks {
		c := fullClaims(Access)
		c.ID = fmt.Sprint("jti-", i)
		c.ExpiresAt = testNow + int64(30+i)
		toks[i], _ = iss.Issue(c)
	}
	var now atomic.Int64
	now.Store(testNow)
	v := testVerifier(ks, WithCache(16), WithLeeway(0), WithClock(func() time.Time { return time.Unix(now.Load(), 0) }))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				tok := toks[(g*7+i)%len(toks)]
				at := now.Load()
				c, err := v.VerifyAccess(tok)
				switch {
				case err == nil && c.ExpiresAt <= at:
					t.Errorf("accepted a token whose exp %d had passed at %d", c.ExpiresAt, at)
					return
				case err != nil && !errors.Is(err, ErrExpired):
					t.Errorf("unexpected error: %v", err)
					return
				}
				if g == 0 && i%50 == 0 {
					now.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

// TestCacheHitAllocations: a hit into a caller's list allocates nothing.
func TestCacheHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are asserted without -race")
	}
	ks := mustKeySet(t, mustHS256(t))
	tok, _ := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaims(Access))
	v := testVerifier(ks, WithCache(8))
	list := make([]string, 8)
	var c Claims
	if err := v.VerifyAccessInto(tok, &c, list); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := v.VerifyAccessInto(tok, &c, list); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocs per cache hit, want 0", n)
	}
}

// TestCacheKeepsAccessTokensOnly: refresh tokens are used once; the cache
// does not spend room on them.
func TestCacheKeepsAccessTokensOnly(t *testing.T) {
	ks := mustKeySet(t, mustHS256(t))
	tok, _ := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaims(Refresh))
	v := testVerifier(ks, WithCache(8))
	for range 2 {
		if _, err := v.VerifyRefresh(tok); err != nil {
			t.Fatal(err)
		}
	}
	for i := range v.cache.shards {
		if n := len(v.cache.shards[i].m); n != 0 {
			t.Fatalf("shard %d holds %d entries after refresh verifications", i, n)
		}
	}
}

// TestCacheShardSize: one shard per 64-byte cache line.
func TestCacheShardSize(t *testing.T) {
	if n := unsafe.Sizeof(cacheShard{}); n != 64 {
		t.Fatalf("a cache shard is %d bytes, want 64", n)
	}
}

// TestConstantTimeEqual: equal exactly when the strings are, wherever
// they differ, whatever their length against the eight-byte words.
func TestConstantTimeEqual(t *testing.T) {
	for n := range 40 {
		a := strings.Repeat("x", n)
		if !constantTimeEqual(a, a) {
			t.Fatalf("length %d: a string differs from itself", n)
		}
		if constantTimeEqual(a, a+"x") || constantTimeEqual(a+"x", a) {
			t.Fatalf("length %d: strings of different lengths are equal", n)
		}
		for i := range n {
			for _, c := range []byte{'y', 'x' ^ 0x80, 'x' ^ 1} {
				b := []byte(a)
				b[i] = c
				if constantTimeEqual(a, string(b)) {
					t.Fatalf("length %d: a difference at byte %d (%#x) is not seen", n, i, c)
				}
			}
		}
	}
}
