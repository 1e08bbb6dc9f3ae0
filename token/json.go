package token

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner for the two flat objects a JWS carries (protected
// header and claims). encoding/json is not used on the verify path: it keeps
// the last of duplicate keys, matches names case-insensitively (security.md
// item 6) and allocates. This scanner:
//   - accepts exactly one JSON object (RFC 8259) surrounded by optional
//     whitespace;
//   - decodes string escapes IN PLACE (a decoded string is never longer than
//     its escaped form), so keys and values are sub-slices of the caller's
//     buffer and nothing is allocated;
//   - rejects raw control characters, invalid UTF-8 and unpaired UTF-16
//     surrogates in every string, including skipped ones;
//   - skips values of unknown members of any JSON type, with a nesting limit.
//
// The callers own the object loop (header.go, claims.go) so that each can
// type-check its known members; this file only has the primitives.

// maxDepth bounds the nesting of skipped values; JWT headers and our claims
// are flat, so anything deeper is an attack on the parser, not a token.
const maxDepth = 16

// maxMembers bounds the member count of a header or claims object, which
// keeps the quadratic duplicate check cheap.
const maxMembers = 64

// span is a decoded string: b[start:end] of the scanned buffer.
type span struct{ start, end int }

type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	i, b := s.i, s.b
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// consume skips whitespace and then the byte c, reporting whether it was there.
func (s *scanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// atEnd skips trailing whitespace and reports whether the input is used up.
func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// str scans a JSON string, decoding it in place.
func (s *scanner) str() (span, bool) {
	if !s.consume('"') {
		return span{}, false
	}
	b := s.b
	start := s.i
	// Fast path: most strings are plain printable ASCII with no escape;
	// they need only a scan for the closing quote, 8 bytes at a time.
	i := s.i
	for i+8 <= len(b) {
		if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) / 8 // the first special byte
			break
		}
		i += 8
	}
	for i < len(b) && !isSpecial[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.i = i + 1
		return span{start, i}, true
	}
	s.i = i
	// Slow path: decode escapes and check UTF-8, writing in place.
	w := s.i // write position; always <= s.i
	for s.i < len(b) {
		c := b[s.i]
		switch {
		case c == '"':
			s.i++
			return span{start, w}, true
		case c == '\\':
			if s.i+1 >= len(b) {
				return span{}, false
			}
			var d byte
			switch b[s.i+1] {
			case '"':
				d = '"'
			case '\\':
				d = '\\'
			case '/':
				d = '/'
			case 'b':
				d = '\b'
			case 'f':
				d = '\f'
			case 'n':
				d = '\n'
			case 'r':
				d = '\r'
			case 't':
				d = '\t'
			case 'u':
				r, ok := hex4(b, s.i+2)
				if !ok {
					return span{}, false
				}
				s.i += 6
				if utf16.IsSurrogate(r) {
					// Only a high surrogate followed by an escaped low
					// surrogate is a character; anything else is not text.
					if r >= 0xDC00 || s.i+1 >= len(b) || b[s.i] != '\\' || b[s.i+1] != 'u' {
						return span{}, false
					}
					r2, ok := hex4(b, s.i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return span{}, false
					}
					s.i += 6
					r = utf16.DecodeRune(r, r2)
				}
				w += utf8.EncodeRune(b[w:], r) // fits: at least 6 bytes were consumed
				continue
			default:
				return span{}, false
			}
			b[w] = d
			w++
			s.i += 2
		case c < 0x20:
			return span{}, false
		case c < utf8.RuneSelf:
			b[w] = c
			w++
			s.i++
		default:
			r, size := utf8.DecodeRune(b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return span{}, false
			}
			w += copy(b[w:], b[s.i:s.i+size])
			s.i += size
		}
	}
	return span{}, false
}

// special8 flags the bytes of x (little-endian) that a JSON string cannot
// copy as they are: '"', '\\', controls (< 0x20) and non-ASCII (>= 0x80).
// The tests are the "has a byte less than / equal to" forms from Bit
// Twiddling Hacks; their false positives can only sit above a true one, so
// the lowest set bit marks the first special byte exactly (FuzzJSONScanner
// checks this against encoding/json).
func special8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	control := (x - ones*0x20) & ^x & highs
	q := x ^ (ones * '"')
	quote := (q - ones) & ^q & highs
	bs := x ^ (ones * '\\')
	backslash := (bs - ones) & ^bs & highs
	return control | quote | backslash | x&highs
}

// isSpecial is special8 for one byte.
var isSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\'
	}
	return t
}()

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// maxSafeInt is the largest integer accepted for a time claim: 2^53-1, the
// largest integer every JSON implementation represents exactly (RFC 8259
// §6). It is far beyond any real timestamp, and it keeps exp+leeway from
// overflowing int64.
const maxSafeInt = 1<<53 - 1

// int53 scans a JSON number that must be an integer: no fraction, no
// exponent, magnitude at most maxSafeInt.
func (s *scanner) int53() (int64, bool) {
	s.skipSpace()
	b := s.b
	neg := false
	if s.i < len(b) && b[s.i] == '-' {
		neg = true
		s.i++
	}
	if s.i >= len(b) || b[s.i] < '0' || b[s.i] > '9' {
		return 0, false
	}
	var v int64
	if b[s.i] == '0' {
		s.i++
	} else {
		for s.i < len(b) && '0' <= b[s.i] && b[s.i] <= '9' {
			v = v*10 + int64(b[s.i]-'0')
			if v > maxSafeInt {
				return 0, false
			}
			s.i++
		}
	}
	if s.i < len(b) && (b[s.i] == '.' || b[s.i] == 'e' || b[s.i] == 'E' || ('0' <= b[s.i] && b[s.i] <= '9')) {
		return 0, false // a fraction, an exponent, or a leading zero
	}
	if neg {
		v = -v
	}
	return v, true
}

// skip scans any JSON value at nesting depth depth and discards it.
func (s *scanner) skip(depth int) bool {
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		if depth >= maxDepth {
			return false
		}
		s.i++
		if s.consume('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok || !s.consume(':') || !s.skip(depth+1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume('}')
		}
	case '[':
		if depth >= maxDepth {
			return false
		}
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number scans the RFC 8259 number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (s *scanner) number() bool {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && '1' <= b[s.i] && b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits consumes [0-9]* and reports whether it consumed at least one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// stringArray scans a JSON array of strings, calling add for each element.
func (s *scanner) stringArray(add func(span) bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		sp, ok := s.str()
		if !ok || !add(sp) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// memberSet detects duplicate and case-variant member names. Known names
// are recognised exactly by the caller and recorded as bits; any other name
// is compared, with Unicode case folding (so "ALG", "Alg" and "\u212Aid" with
// a Kelvin sign all collide), against the known names and against the other
// unknown names seen so far.
type memberSet struct {
	known   uint32
	unknown [maxMembers]span
	n       int
}

func (m *memberSet) reset() { m.known, m.n = 0, 0 }

// addKnown records known member bit; false means a duplicate.
func (m *memberSet) addKnown(bit uint32) bool {
	if m.known&bit != 0 {
		return false
	}
	m.known |= bit
	return true
}

// addUnknown records an unrecognised name; false means it collides with a
// known name or an earlier member, or that there are too many members, or
// that it holds a control character ("typ\u0000": no signer means such a
// name, and some parsers cut it short).
func (m *memberSet) addUnknown(b []byte, name span, knownNames []string) bool {
	k := foldName(b[name.start:name.end])
	if k == nil {
		return false
	}
	for _, n := range knownNames {
		if equalFold(k, n) {
			return false
		}
	}
	for _, u := range m.unknown[:m.n] {
		if bytes.EqualFold(k, foldName(b[u.start:u.end])) {
			return false
		}
	}
	if m.n == len(m.unknown) {
		return false
	}
	m.unknown[m.n] = name
	m.n++
	return true
}

// foldName prepares a member name for a case-insensitive comparison: nil
// if it holds a control character; otherwise the name, with the Turkish
// dotted and dotless i (U+0130, U+0131) as "i", because other platforms'
// case-insensitive lookups (Java's equalsIgnoreCase, .NET's
// OrdinalIgnoreCase) take "KİD" or "jtı" for "kid" and "jti" where Go's
// simple folding does not.
func foldName(k []byte) []byte {
	ascii := true
	for _, c := range k {
		switch {
		case c < 0x20 || c == 0x7f:
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if ascii {
		return k
	}
	k = bytes.ReplaceAll(k, []byte("\u0130"), []byte("i"))
	return bytes.ReplaceAll(k, []byte("\u0131"), []byte("i"))
}

// equalFold is bytes.EqualFold against a string, without converting it.
func equalFold(b []byte, s string) bool {
	for len(b) > 0 && len(s) > 0 {
		c, d := b[0], s[0]
		if c|d >= utf8.RuneSelf {
			// Non-ASCII on either side: fall back to full Unicode folding.
			return bytes.EqualFold(b, []byte(s))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
		b, s = b[1:], s[1:]
	}
	return len(b) == 0 && len(s) == 0
}
