package token

import "crypto/ed25519"

// verifyEd25519 is RFC 8032 Ed25519 verification as crypto/ed25519 does it:
// it rejects non-canonical S (s >= L), so signatures are not malleable.
func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}
