package token

import (
	"encoding/base64"
	"encoding/binary"
)

// Strict base64url without padding (RFC 7515 §2, RFC 4648 §5). We decode by
// hand rather than with encoding/base64 because its decoder silently skips
// '\r' and '\n' even in Strict mode (security.md item 7); here every byte
// outside the 64-letter alphabet is an error, so are '=' padding, a length
// of 4n+1 and non-zero trailing bits, and decoding writes into the caller's
// buffer without allocating.

const invalidB64 = 0xFF

var b64Alphabet = func() (m [256]byte) {
	for i := range m {
		m[i] = invalidB64
	}
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(letters); i++ {
		m[letters[i]] = byte(i)
	}
	return m
}()

// decodedLen returns the decoded size of n base64url characters, or false if
// no unpadded encoding has that length.
func decodedLen(n int) (int, bool) {
	switch n % 4 {
	case 0:
		return n / 4 * 3, true
	case 2:
		return n/4*3 + 1, true
	case 3:
		return n/4*3 + 2, true
	}
	return 0, false
}

// b64Decode decodes src into dst, which must hold decodedLen(len(src))
// bytes, and returns the number of bytes written.
func b64Decode(dst []byte, src string) (int, bool) {
	n, ok := decodedLen(len(src))
	if !ok || len(dst) < n {
		return 0, false
	}
	m := &b64Alphabet
	di, si := 0, 0
	// 8 characters (48 bits) at a time, written as one 64-bit store whose
	// last 2 bytes the next round overwrites; hence the room check on dst.
	for ; si+8 <= len(src) && di+8 <= len(dst); si, di = si+8, di+6 {
		q := src[si : si+8]
		c0, c1, c2, c3 := m[q[0]], m[q[1]], m[q[2]], m[q[3]]
		c4, c5, c6, c7 := m[q[4]], m[q[5]], m[q[6]], m[q[7]]
		if (c0|c1|c2|c3|c4|c5|c6|c7)&0xC0 != 0 {
			return 0, false
		}
		v := uint64(c0)<<58 | uint64(c1)<<52 | uint64(c2)<<46 | uint64(c3)<<40 |
			uint64(c4)<<34 | uint64(c5)<<28 | uint64(c6)<<22 | uint64(c7)<<16
		binary.BigEndian.PutUint64(dst[di:], v)
	}
	for ; si+4 <= len(src); si += 4 {
		a, b, c, d := m[src[si]], m[src[si+1]], m[src[si+2]], m[src[si+3]]
		if (a|b|c|d)&0xC0 != 0 { // an invalid byte has the top bits set
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[di], dst[di+1], dst[di+2] = byte(v>>16), byte(v>>8), byte(v)
		di += 3
	}
	switch len(src) - si {
	case 2:
		a, b := m[src[si]], m[src[si+1]]
		if (a|b)&0xC0 != 0 || b&0x0F != 0 { // 12 bits carry 8: 4 must be zero
			return 0, false
		}
		dst[di] = a<<2 | b>>4
		di++
	case 3:
		a, b, c := m[src[si]], m[src[si+1]], m[src[si+2]]
		if (a|b|c)&0xC0 != 0 || c&0x03 != 0 { // 18 bits carry 16: 2 must be zero
			return 0, false
		}
		dst[di], dst[di+1] = a<<2|b>>4, b<<4|c>>2
		di += 2
	}
	return di, true
}

// b64Append appends the unpadded base64url encoding of src to dst.
func b64Append(dst, src []byte) []byte { return base64.RawURLEncoding.AppendEncode(dst, src) }
