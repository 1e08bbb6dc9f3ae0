package token

import (
	"strconv"
	"unicode/utf8"
)

// Type tells access tokens from refresh tokens. It travels in the protected
// header "typ" (RFC 9068 §2.1, RFC 8725 §3.11), not in the claims, and the
// two validations are mutually exclusive: a refresh token never passes as an
// access token, nor the reverse.
type Type uint8

// Token types.
const (
	Access  Type = 1 // typ "at+jwt" (RFC 9068)
	Refresh Type = 2 // typ "rt+jwt"
)

// String returns "access", "refresh" or "invalid".
func (t Type) String() string {
	switch t {
	case Access:
		return "access"
	case Refresh:
		return "refresh"
	}
	return "invalid"
}

// mediaType is the typ header value we emit.
func (t Type) mediaType() string {
	if t == Refresh {
		return "rt+jwt"
	}
	return "at+jwt"
}

// Claims is the content of a token. Strings of a verified token are
// read-only views into one copy of the payload; Audience, Roles and Scopes
// share one backing array (with capacity clipped, so appending to one never
// overwrites another).
type Claims struct {
	Issuer    string   // "iss"; Issue fills it from the Issuer
	Subject   string   // "sub"
	Audience  []string // "aud": a string or an array on input; a string when len==1 on output
	ExpiresAt int64    // "exp", unix seconds, required
	NotBefore int64    // "nbf", unix seconds, 0 = absent
	IssuedAt  int64    // "iat", unix seconds, 0 = absent
	ID        string   // "jti"
	SessionID string   // "sid"
	Tenant    string   // "tenant"
	Roles     []string // "roles": a JSON array of strings
	Scopes    []string // "scope": ONE space-separated string (RFC 9068 §2.2.3, RFC 8693 §4.2)
	Type      Type     // from the protected header typ, not a claim
}

// Presence bits of the claims we know.
const (
	hasIss uint32 = 1 << iota
	hasSub
	hasAud
	hasExp
	hasNbf
	hasIat
	hasJti
	hasSid
	hasTenant
	hasRoles
	hasScope
)

// claimNames are the member names parseClaims recognises; any other name
// that matches one of them under case folding is rejected.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "tenant", "roles", "scope"}

// maxListItems bounds audiences + roles + scopes in one token.
const maxListItems = 64

// listRange is a run of spans in the list buffer.
type listRange struct{ off, n int }

// rawClaims is the result of parseClaims: decoded strings as spans of the
// payload buffer, lists as runs of spans in a caller-provided buffer.
type rawClaims struct {
	has                        uint32
	iss, sub, jti, sid, tenant span
	exp, nbf, iat              int64
	aud, roles, scopes         listRange
	listLen                    int // spans used in the list buffer
	maxEnd                     int // end of the last decoded string
}

// parseClaims scans the claims object in b (decoding strings in place) into
// rc, with list items stored in list. It checks JSON syntax, types,
// duplicates and case variants only; validate checks the values.
func parseClaims(b []byte, list *[maxListItems]span, seen *memberSet, rc *rawClaims) error {
	s := scanner{b: b}
	seen.reset()
	if !s.consume('{') {
		return errClaimsJSON
	}
	addList := func(sp span) bool {
		if rc.listLen == len(list) {
			return false
		}
		list[rc.listLen] = sp
		rc.listLen++
		rc.maxEnd = max(rc.maxEnd, sp.end)
		return true
	}
	if !s.consume('}') {
		for members := 0; ; members++ {
			if members == maxMembers {
				return errClaimsJSON
			}
			name, ok := s.str()
			if !ok || !s.consume(':') {
				return errClaimsJSON
			}
			var bit uint32
			var str *span
			var num *int64
			switch string(b[name.start:name.end]) {
			case "iss":
				bit, str = hasIss, &rc.iss
			case "sub":
				bit, str = hasSub, &rc.sub
			case "jti":
				bit, str = hasJti, &rc.jti
			case "sid":
				bit, str = hasSid, &rc.sid
			case "tenant":
				bit, str = hasTenant, &rc.tenant
			case "exp":
				bit, num = hasExp, &rc.exp
			case "nbf":
				bit, num = hasNbf, &rc.nbf
			case "iat":
				bit, num = hasIat, &rc.iat
			case "aud":
				bit = hasAud
			case "roles":
				bit = hasRoles
			case "scope":
				bit = hasScope
			}
			switch {
			case bit == 0:
				if !seen.addUnknown(b, name, claimNames) {
					return errClaimsDup
				}
				if !s.skip(1) {
					return errClaimsJSON
				}
			case !seen.addKnown(bit):
				return errClaimsDup
			case str != nil:
				if s.peek() != '"' {
					return errClaimType
				}
				sp, ok := s.str()
				if !ok {
					return errClaimsJSON
				}
				*str = sp
				rc.maxEnd = max(rc.maxEnd, sp.end)
			case num != nil:
				if c := s.peek(); c != '-' && (c < '0' || c > '9') {
					return errClaimType
				}
				v, ok := s.int53()
				if !ok {
					return errClaimNumber
				}
				*num = v
			case bit == hasAud:
				rc.aud.off = rc.listLen
				switch s.peek() {
				case '"':
					sp, ok := s.str()
					if !ok {
						return errClaimsJSON
					}
					if !addList(sp) {
						return errClaimTooMany
					}
				case '[':
					if !s.stringArray(addList) {
						return errClaimType // also too many; both are malformed
					}
				default:
					return errClaimType
				}
				rc.aud.n = rc.listLen - rc.aud.off
			case bit == hasRoles:
				if s.peek() != '[' {
					return errClaimType
				}
				rc.roles.off = rc.listLen
				if !s.stringArray(addList) {
					return errClaimType
				}
				rc.roles.n = rc.listLen - rc.roles.off
			case bit == hasScope:
				if s.peek() != '"' {
					return errClaimType
				}
				sp, ok := s.str()
				if !ok {
					return errClaimsJSON
				}
				rc.scopes.off = rc.listLen
				if err := splitScope(b, sp, addList); err != nil {
					return err
				}
				rc.scopes.n = rc.listLen - rc.scopes.off
			}
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return errClaimsJSON
		}
	}
	if !s.atEnd() {
		return errClaimsJSON
	}
	rc.has = seen.known
	return nil
}

// splitScope splits a decoded scope string on single spaces. Each scope
// token must match RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ).
func splitScope(b []byte, sp span, add func(span) bool) error {
	if sp.start == sp.end {
		return nil // "scope": "" grants nothing
	}
	start := sp.start
	for i := sp.start; i <= sp.end; i++ {
		if i < sp.end && b[i] != ' ' {
			if !isScopeChar(b[i]) {
				return errClaimScope
			}
			continue
		}
		if i == start { // leading, trailing or double space
			return errClaimScope
		}
		if !add(span{start, i}) {
			return errClaimTooMany
		}
		start = i + 1
	}
	return nil
}

func isScopeChar(c byte) bool { return scopeChars[c] }

var scopeChars = func() (t [256]bool) {
	for c := range t {
		t[c] = c == 0x21 || (0x23 <= c && c <= 0x5B) || (0x5D <= c && c <= 0x7E)
	}
	return t
}()

// validScope reports whether s is one RFC 6749 scope token.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isScopeChar(s[i]) {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string. It reports false if s is not
// valid UTF-8: we never emit text we would refuse to read back.
func appendJSONString(dst []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return dst, false
	}
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"'), true
}

// appendClaims appends the JSON object of c, members in a fixed order,
// empty ones omitted. It reports false if a string is not valid UTF-8.
func appendClaims(dst []byte, c *Claims) ([]byte, bool) {
	ok := true
	first := true
	name := func(n string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, n...)
		dst = append(dst, '"', ':')
	}
	str := func(n, v string) {
		if v != "" && ok {
			name(n)
			dst, ok = appendJSONString(dst, v)
		}
	}
	num := func(n string, v int64) {
		if v != 0 {
			name(n)
			dst = strconv.AppendInt(dst, v, 10)
		}
	}
	list := func(n string, vs []string) {
		if len(vs) == 0 || !ok {
			return
		}
		name(n)
		dst = append(dst, '[')
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendJSONString(dst, v); !ok {
				return
			}
		}
		dst = append(dst, ']')
	}
	dst = append(dst, '{')
	str("iss", c.Issuer)
	str("sub", c.Subject)
	if len(c.Audience) == 1 {
		str("aud", c.Audience[0])
	} else {
		list("aud", c.Audience)
	}
	num("exp", c.ExpiresAt)
	num("nbf", c.NotBefore)
	num("iat", c.IssuedAt)
	str("jti", c.ID)
	str("sid", c.SessionID)
	str("tenant", c.Tenant)
	list("roles", c.Roles)
	if len(c.Scopes) > 0 {
		name("scope")
		dst = append(dst, '"')
		for i, sc := range c.Scopes {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, sc...) // scope tokens need no escaping (validScope)
		}
		dst = append(dst, '"')
	}
	return append(dst, '}'), ok
}
