package apikey_test

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/relayauth/relayauth/apikey"
)

// The three benchmarks run side by side:
//
//	go test -run='^$' -bench=. -benchmem ./apikey/
//
// BenchmarkFloor is the least any hash-based check can cost: SHA-256 of
// the key and one map lookup. BenchmarkVerify is the whole hot path on
// top of it (parse, checksum, constant-time compare, revocation and
// expiry, last-used); the target is at most twice the floor and no
// allocation. BenchmarkVerifyBadChecksum is the price of a made-up key,
// which should be well under the floor: it never hashes.

// benchKeys creates n keys (with an expiry, so Verify checks it) and
// returns their secrets.
func benchKeys(b *testing.B, m *apikey.Manager, n int) []string {
	out := make([]string, n)
	for i := range out {
		_, s, err := m.Create(ctx, apikey.CreateRequest{
			Name: fmt.Sprintf("key %d", i), Tenant: fmt.Sprintf("tenant-%d", i%10),
			Scopes: []string{"api_keys:read", "tokens:issue"}, ExpiresIn: time.Hour,
		})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s.Reveal()
	}
	return out
}

func benchManager(b *testing.B) *apikey.Manager {
	m, err := apikey.NewManager(apikey.NewMemoryStore(), apikey.EnvLive, apikey.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func BenchmarkVerify(b *testing.B) {
	m := benchManager(b)
	keys := benchKeys(b, m, 1000)
	raw := keys[500]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor: sha256.Sum256 of the same key (from a stack copy, the
// allocation-free way) and a lookup in a map of as many hashes.
func BenchmarkFloor(b *testing.B) {
	m := benchManager(b)
	keys := benchKeys(b, m, 1000)
	index := make(map[[32]byte]*apikey.Identity, len(keys))
	for _, k := range keys {
		index[sha256.Sum256([]byte(k))] = &apikey.Identity{}
	}
	raw := keys[500]
	b.ReportAllocs()
	for b.Loop() {
		var buf [apikey.Length]byte
		copy(buf[:], raw)
		if index[sha256.Sum256(buf[:])] == nil {
			b.Fatal("missing")
		}
	}
}

func BenchmarkVerifyBadChecksum(b *testing.B) {
	m := benchManager(b)
	raw := benchKeys(b, m, 1)[0]
	bad := []byte(raw)
	bad[20] ^= 1
	badRaw := string(bad)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, badRaw); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	m := benchManager(b)
	keys := benchKeys(b, m, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Verify(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkParse(b *testing.B) {
	raw := newRaw(b, apikey.EnvLive)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
