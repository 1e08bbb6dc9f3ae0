package httpauth

import (
	"fmt"
	"net/http"

	"github.com/relayauth/relayauth"
)

// MaxCredentialLen caps a credential header before any parsing.
const MaxCredentialLen = 8 << 10

var (
	errMalformedAuth = fmt.Errorf("%w: malformed Authorization header: want \"Bearer <token>\"", relayauth.ErrUnauthenticated)
	errMultipleAuth  = fmt.Errorf("%w: more than one Authorization header", relayauth.ErrUnauthenticated)
	errLongAuth      = fmt.Errorf("%w: Authorization header over %d bytes", relayauth.ErrUnauthenticated, MaxCredentialLen)
)

// BearerToken returns the token of the request's only Authorization
// header, which must use the Bearer scheme (RFC 6750 §2.1: scheme name
// case-insensitive, one space, a token68). ErrNoCredentials when absent.
func BearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", errMultipleAuth
	}
	return ParseBearer(values[0])
}

// ParseBearer parses one Authorization header value.
func ParseBearer(v string) (string, error) {
	if len(v) > MaxCredentialLen {
		return "", errLongAuth
	}
	const scheme = "bearer "
	if len(v) <= len(scheme) || !equalFold(v[:len(scheme)], scheme) {
		return "", errMalformedAuth
	}
	tok := v[len(scheme):]
	if !isToken68(tok) {
		return "", errMalformedAuth
	}
	return tok, nil
}

// equalFold compares ASCII case-insensitively; b is lower case.
func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// isToken68 reports whether s is a token68 (RFC 9110 §11.2).
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			goto padding
		}
	}
padding:
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
