package server

import (
	"strconv"
	"unicode/utf8"
)

// Appending JSON by hand, for the one answer on a hot path that is not a
// few fields (introspection, see appendJSON): encoding/json's reflection
// and the boxing of the value were a quarter of that handler's time. The
// output is byte for byte what json.Encoder writes (TestIntrospectionJSON
// and FuzzIntrospectionJSON compare them), HTML escaping included.

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: ", \ and control characters; <, > and & (HTML-safe); U+2028
// and U+2029; each byte of invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonObject appends the members of one JSON object, leaving out empty
// values as the omitempty option does.
type jsonObject struct {
	b    []byte
	more bool // a member was written: the next needs a comma
}

func (o *jsonObject) name(n string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = appendJSONString(o.b, n)
	o.b = append(o.b, ':')
}

func (o *jsonObject) bool(n string, v bool) {
	o.name(n)
	o.b = strconv.AppendBool(o.b, v)
}

// stringOmitEmpty and the others below leave out "", 0 and empty lists.
func (o *jsonObject) stringOmitEmpty(n, v string) {
	if v != "" {
		o.name(n)
		o.b = appendJSONString(o.b, v)
	}
}

func (o *jsonObject) int64OmitEmpty(n string, v int64) {
	if v != 0 {
		o.name(n)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func (o *jsonObject) stringsOmitEmpty(n string, v []string) {
	if len(v) == 0 {
		return
	}
	o.name(n)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendJSONString(o.b, s)
	}
	o.b = append(o.b, ']')
}
