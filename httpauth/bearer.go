package httpauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/relayauth/relayauth"
)

// MaxCredentialLen caps a credential header before any parsing.
const MaxCredentialLen = 8 << 10

var (
	errMalformedAuth = fmt.Errorf("%w: malformed Authorization header: want \"Bearer <token>\"", relayauth.ErrUnauthenticated)
	errMultipleAuth  = fmt.Errorf("%w in more than one Authorization header", errCredentialsRequest)
	errLongAuth      = fmt.Errorf("%w: Authorization header over %d bytes", relayauth.ErrUnauthenticated, MaxCredentialLen)
	// errUnsupportedScheme: RFC 6750 §3.1 treats a request that "attempted
	// using an unsupported authentication method" like one without
	// credentials: its challenge carries no error code.
	errUnsupportedScheme = fmt.Errorf("%w: the Authorization scheme is not Bearer", relayauth.ErrUnauthenticated)
)

// errCredentialsRequest marks what RFC 6750 §3.1 calls invalid_request:
// credentials repeated, sent two ways at once, or in the URL query. It is
// a 400 with an error="invalid_request" challenge.
var errCredentialsRequest = fmt.Errorf("%w: credentials", relayauth.ErrInvalid)

// BearerToken returns the token of the request's only Authorization
// header, which must use the Bearer scheme (RFC 6750 §2.1: scheme name
// case-insensitive, one space, a token68). ErrNoCredentials when absent.
func BearerToken(h http.Header) (string, error) {
	v, err := authorization(h)
	if err != nil {
		return "", err
	}
	return ParseBearer(v)
}

// authorization returns the request's only Authorization header value.
func authorization(h http.Header) (string, error) {
	return only(h["Authorization"]) // canonical already: no Values() lookup cost
}

// only returns the one Authorization header value of values.
func only(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
		return values[0], nil
	default:
		return "", errMultipleAuth
	}
}

// ParseBearer parses one Authorization header value.
func ParseBearer(v string) (string, error) {
	tok, err := bearerCredential(v)
	if err != nil {
		return "", err
	}
	if !isToken68(tok) {
		return "", errMalformedAuth
	}
	return tok, nil
}

// bearerCredential checks the size and the scheme and returns what
// follows. It leaves the token68 check to the caller: the JWT verifier's
// strict base64url parse is a stricter check of the same bytes, so the
// verify hot path skips a second pass over them.
func bearerCredential(v string) (string, error) {
	if len(v) > MaxCredentialLen {
		return "", errLongAuth
	}
	const scheme = "bearer "
	if len(v) <= len(scheme) || !equalFold(v[:len(scheme)], scheme) {
		if name, _, _ := strings.Cut(v, " "); len(name) != len(scheme)-1 || !equalFold(name, scheme[:len(scheme)-1]) {
			return "", errUnsupportedScheme
		}
		return "", errMalformedAuth
	}
	return v[len(scheme):], nil
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

// token68Chars marks the bytes of a token68 other than its '=' padding.
var token68Chars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// isToken68 reports whether s is a token68 (RFC 9110 §11.2). It is on
// every request, hence the table.
func isToken68(s string) bool {
	i := 0
	for i < len(s) && token68Chars[s[i]] {
		i++
	}
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
