package token

import (
	"bytes"
	"crypto/ed25519"
)

// verifyEd25519 is RFC 8032 Ed25519 verification as crypto/ed25519 does it:
// it rejects non-canonical S (s >= L), so signatures are not malleable.
func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

// smallOrderPoints are the encodings of the Ed25519 points of order 1, 2,
// 4 and 8, the sign bit left clear, including the two non-canonical ones
// (y = p, y = p+1) that crypto/ed25519 also accepts (the list libsodium's
// ge25519_has_small_order checks). Under such a public key signatures
// are not bound to a private key: with the identity, R = identity and
// S = 0 verify for every message.
var smallOrderPoints = [...][32]byte{
	{},     // y = 0: order 4
	{0x01}, // y = 1: the identity
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}, // order 8
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, // order 8
	fieldElement(0xec), // y = p-1: order 2
	fieldElement(0xed), // y = p: non-canonical 0
	fieldElement(0xee), // y = p+1: non-canonical 1
}

// fieldElement is 2^255 - 19 + (low - 0xed), little-endian.
func fieldElement(low byte) [32]byte {
	var e [32]byte
	e[0] = low
	for i := 1; i < 31; i++ {
		e[i] = 0xff
	}
	e[31] = 0x7f
	return e
}

// smallOrder reports whether pub encodes a point of small order, under
// either sign of x.
func smallOrder(pub ed25519.PublicKey) bool {
	var y [32]byte
	copy(y[:], pub)
	y[31] &= 0x7f
	for _, p := range smallOrderPoints {
		if bytes.Equal(y[:], p[:]) {
			return true
		}
	}
	return false
}
