// Package urlenc holds the %-escape rules of url.QueryUnescape that the
// allocation-free readers of queries and forms (httpauth's query scan,
// the server's form reader) share, so that both refuse exactly what
// net/url refuses. Each reader is fuzzed against url.ParseQuery.
package urlenc

import (
	"bytes"
	"strings"
)

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Unhex is the value of c, which must be a hexadecimal digit (IsHex).
func Unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// ValidEscapes reports whether every '%' in s starts a %XX escape, as
// url.QueryUnescape requires.
func ValidEscapes(s string) bool {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			return true
		}
		if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
	}
}

// ValidEscapesBytes is ValidEscapes for a form body held as bytes; it
// searches with bytes.IndexByte, as a token-sized value would otherwise
// cost a byte-by-byte loop.
func ValidEscapesBytes(s []byte) bool {
	for {
		i := bytes.IndexByte(s, '%')
		if i < 0 {
			return true
		}
		if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
	}
}
