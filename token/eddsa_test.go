package token

import (
	"crypto/ed25519"
	"math/big"
	"testing"
)

// TestSmallOrderPoints derives the small-order points' encodings from the
// curve equation, independently of the table: y = 1 (the identity), y = -1
// (order 2), y = 0 (order 4), and order 8 where doubling gives y = 0, that
// is y^2 = -x^2, which with -x^2 + y^2 = 1 + d x^2 y^2 gives
// d y^4 + 2 y^2 - 1 = 0. Plus the non-canonical y + p that fit in 255 bits.
func TestSmallOrderPoints(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	mod := func(x *big.Int) *big.Int { return x.Mod(x, p) }
	inv := func(x *big.Int) *big.Int { return new(big.Int).ModInverse(x, p) }
	d := mod(new(big.Int).Mul(big.NewInt(-121665), inv(big.NewInt(121666))))

	ys := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(p, big.NewInt(1))}
	sq := new(big.Int).ModSqrt(mod(new(big.Int).Add(big.NewInt(1), d)), p) // sqrt(1+d)
	if sq == nil {
		t.Fatal("1+d is not a square")
	}
	for _, s := range []*big.Int{sq, new(big.Int).Neg(sq)} {
		y2 := mod(new(big.Int).Mul(new(big.Int).Sub(s, big.NewInt(1)), inv(d))) // (-1 ± sqrt(1+d)) / d
		y := new(big.Int).ModSqrt(y2, p)
		if y == nil {
			continue // not a square: no point
		}
		ys = append(ys, y, new(big.Int).Sub(p, y))
	}
	ys = append(ys, new(big.Int).Set(p), new(big.Int).Add(p, big.NewInt(1)))

	want := map[[32]byte]bool{}
	for _, y := range ys {
		var e [32]byte
		b := y.Bytes() // big-endian
		for i := range b {
			e[i] = b[len(b)-1-i]
		}
		want[e] = true
	}
	if len(want) != len(smallOrderPoints) {
		t.Fatalf("derived %d encodings, the table has %d", len(want), len(smallOrderPoints))
	}
	for _, e := range smallOrderPoints {
		if !want[e] {
			t.Fatalf("table entry %x is not a small-order point", e)
		}
		for _, sign := range []byte{0, 0x80} {
			k := e
			k[31] |= sign
			if !smallOrder(k[:]) {
				t.Fatalf("%x not refused", k)
			}
		}
	}
}

func TestNewPublicKeyRefusesSmallOrder(t *testing.T) {
	identity := make(ed25519.PublicKey, ed25519.PublicKeySize)
	identity[0] = 1
	// Why: under the identity, R = identity and S = 0 is a signature of
	// every message.
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 1
	if !ed25519.Verify(identity, []byte(`{"sub":"anyone","roles":["admin"]}`), sig) {
		t.Fatal("the forgery this guards against no longer verifies; keep the check anyway")
	}
	for _, e := range smallOrderPoints {
		if _, err := NewPublicKey(EdDSA, "k", ed25519.PublicKey(e[:])); err == nil {
			t.Fatalf("NewPublicKey accepted %x", e)
		}
	}
	for range 100 {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewPublicKey(EdDSA, "k", pub); err != nil {
			t.Fatalf("a generated key refused: %v", err)
		}
	}
}
