package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
)

// p256Order is n, the order of the P-256 base point, big-endian.
var p256Order = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
}

// inScalarRange reports whether the 32-byte big-endian v is in [1, n-1].
// ECDSA signatures with r or s outside that range are invalid; r = s = 0 is
// the "psychic signature" of CVE-2022-21449. crypto/ecdsa checks this too; we
// check it first and explicitly so the rule does not rest on one line of
// someone else's code.
func inScalarRange(v []byte) bool {
	return len(v) == 32 && bytes.Compare(v, p256Order[:]) < 0 && !allZero(v)
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// verifyES256 verifies a JWS ES256 signature: r||s as two 32-byte
// big-endian integers (RFC 7518 §3.4, IEEE P1363), over SHA-256(msg). Any
// other length, including DER, is rejected.
func verifyES256(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if pub == nil || len(sig) != 64 {
		return false
	}
	r, s := sig[:32], sig[32:]
	if !inScalarRange(r) || !inScalarRange(s) {
		return false
	}
	digest := sha256.Sum256(msg)
	var der [72]byte
	return ecdsa.VerifyASN1(pub, digest[:], appendDERSignature(der[:0], r, s))
}

// appendDERSignature encodes r and s (each 32 bytes, non-zero) as the DER
// SEQUENCE { INTEGER r, INTEGER s } that crypto/ecdsa verifies. Every
// length is below 128, so the short length form applies.
func appendDERSignature(dst, r, s []byte) []byte {
	ri, si := derInteger(r), derInteger(s)
	dst = append(dst, 0x30, byte(derIntegerSize(ri)+derIntegerSize(si)))
	dst = appendDERInteger(dst, ri)
	return appendDERInteger(dst, si)
}

// derInteger strips leading zero bytes of a positive integer.
func derInteger(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

// derIntegerSize is the encoded size of INTEGER v: tag, length, a 0x00 if
// the top bit is set (DER integers are signed), and the bytes.
func derIntegerSize(v []byte) int {
	if v[0]&0x80 != 0 {
		return 2 + 1 + len(v)
	}
	return 2 + len(v)
}

func appendDERInteger(dst, v []byte) []byte {
	if v[0]&0x80 != 0 { // keep the integer positive
		dst = append(dst, 0x02, byte(len(v)+1), 0)
	} else {
		dst = append(dst, 0x02, byte(len(v)))
	}
	return append(dst, v...)
}

// signES256 signs SHA-256(msg) and returns r||s (64 bytes).
func signES256(priv *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		return nil, errors.New("token: ecdsa produced an unparsable signature")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}
