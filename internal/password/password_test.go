package password

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashCheck(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	hash, err := h.Hash(ctx, "s3cret-password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want *Hash
		pw   string
		ok   bool
	}{
		{"right", hash, "s3cret-password", true},
		{"wrong", hash, "s3cret-passwore", false},
		{"empty", hash, "", false},
		{"unknown user", nil, "s3cret-password", false},
	}
	for _, tt := range tests {
		ok, err := h.Check(ctx, tt.want, relayauth.Secret(tt.pw))
		if err != nil || ok != tt.ok {
			t.Errorf("%s: %v %v", tt.name, ok, err)
		}
	}
	other, _ := h.Hash(ctx, "s3cret-password")
	if other.salt == hash.salt || other.sum == hash.sum {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestOWASPParams(t *testing.T) {
	if OWASP.Memory < 19*1024 || OWASP.Time < 2 || OWASP.Threads < 1 {
		t.Fatalf("below OWASP's argon2id minimum: %+v", OWASP)
	}
}

// A full hasher makes callers wait, and gives up when their context does.
func TestConcurrencyBound(t *testing.T) {
	h := NewHasher(cheap, 1)
	h.slots <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Check(ctx, nil, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("want ErrBusy, got %v", err)
	}
	<-h.slots
	if _, err := h.Check(context.Background(), nil, "x"); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCheckOWASP(b *testing.B) {
	h := NewHasher(OWASP, 1)
	hash, _ := h.Hash(context.Background(), "benchmark-password")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = h.Check(context.Background(), hash, "benchmark-password")
	}
}
