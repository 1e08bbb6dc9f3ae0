package token

import (
	"encoding/base64"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
)

func TestScannerStrings(t *testing.T) {
	valid := []string{
		`""`, `"abc"`, `"a\"b"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0000"`, `"\u00e9"`, `"\u00E9"`,
		`"\u20ac"`, `"\uD83D\uDE00"`, `"\ud83d\ude00x"`, `"é😀"`, `"\uFFFD"`, "\"\xef\xbf\xbd\"",
		`"a\u0022b"`, `"\\u0041"`, `"long plain ascii string with spaces and: punctuation!"`,
		`"` + strings.Repeat("x", 100) + `\n"`, `"` + strings.Repeat("é", 30) + `"`, "\"\x7f\"",
	}
	for _, in := range valid {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("bad test %q: %v", in, err)
		}
		buf := []byte(in)
		s := scanner{b: buf}
		sp, ok := s.str()
		if !ok || string(buf[sp.start:sp.end]) != want || s.i != len(in) {
			t.Errorf("str(%q) = %q, %v; want %q", in, buf[sp.start:sp.end], ok, want)
		}
	}
	invalid := []string{
		`"`, `"abc`, `abc"`, `'abc'`, `"\"`, `"\x"`, `"\u"`, `"\u12"`, `"\u12G4"`, `"\U0041"`, `"\a"`, `"\0"`,
		"\"a\x01b\"", "\"\t\"", "\"\n\"", "\"\x1f\"",
		"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"", "\"\xf4\x90\x80\x80\"",
		`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`, `"\udc00\ud800"`, `"\ud800\ud800"`, `"\ud800\"`,
		`"\ud800\u"`,
	}
	for _, in := range invalid {
		s := scanner{b: []byte(in)}
		if sp, ok := s.str(); ok {
			t.Errorf("str(%q) accepted: %q", in, in[sp.start:sp.end])
		}
	}
}

func TestScannerInt53(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "-0": 0, "7": 7, "-7": -7, "1700000000": 1700000000,
		"9007199254740991": 1<<53 - 1, "-9007199254740991": -(1<<53 - 1),
	} {
		s := scanner{b: []byte(in)}
		if got, ok := s.int53(); !ok || got != want || s.i != len(in) {
			t.Errorf("int53(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "+1", "01", "-01", "00", "1.0", "1.", "1e3", "1E3", "-1e-3",
		"9007199254740992", "99999999999999999999999999", "0x10", "Infinity", "NaN", `"1"`, "true", ".5"} {
		// Accepted means a whole number token: "0x10" stops after "0" and
		// the object loop then rejects the 'x'.
		s := scanner{b: []byte(in)}
		if got, ok := s.int53(); ok && s.i == len(in) {
			t.Errorf("int53(%q) accepted: %d", in, got)
		}
	}
}

func TestScannerSkip(t *testing.T) {
	valid := []string{
		`0`, `-0`, `1.5`, `-1.5e10`, `1E+2`, `1e-2`, `123456789012345678901234567890`, `1e400`,
		`true`, `false`, `null`, `""`, `"x"`, `[]`, `{}`, `[1,"a",null,true,{"b":[]}]`,
		` { "a" : [ 1 , 2 ] , "b" : { } } `, `{"a":{"a":1,"a":2}}`,
		strings.Repeat("[", 15) + strings.Repeat("]", 15),
		strings.Repeat(`{"a":`, 15) + "1" + strings.Repeat("}", 15),
	}
	for _, in := range valid {
		if !json.Valid([]byte(in)) {
			t.Fatalf("bad test %q", in)
		}
		s := scanner{b: []byte(in)}
		if !s.skip(1) || !s.atEnd() {
			t.Errorf("skip(%q) failed at %d", in, s.i)
		}
	}
	invalid := []string{
		``, `-`, `01`, `1.`, `.1`, `1e`, `1e+`, `+1`, `0x1`, `NaN`, `Infinity`, `tru`, `nul`, `True`,
		`[`, `[1,]`, `[,1]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `{'a':1}`, `[1 2]`, `{"a":1 "b":2}`,
		`"\ud800"`, "\"\xff\"", "[\"\x01\"]",
		strings.Repeat("[", 16) + strings.Repeat("]", 16),
		strings.Repeat("[", 100000),
	}
	for _, in := range invalid {
		s := scanner{b: []byte(in)}
		if s.skip(1) && s.atEnd() {
			t.Errorf("skip(%.30q) accepted", in)
		}
	}
}

func TestEqualFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"alg", "alg", true}, {"ALG", "alg", true}, {"aLg", "alg", true}, {"al", "alg", false},
		{"algx", "alg", false}, {"\u212aid", "kid", true}, {"\u017fub", "sub", true}, {"ſcope", "scope", true},
		{"é", "É", true}, {"alg\x00", "alg", false}, {"", "", true}, {"[", "{", false}, {"@", "`", false},
	} {
		if got := equalFold([]byte(c.a), c.b); got != c.want || got != strings.EqualFold(c.a, c.b) {
			t.Errorf("equalFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestBase64Strict(t *testing.T) {
	for _, in := range []string{"", "QQ", "QUI", "QUJD", "QUJDRA", "_-_-", "AAAAAAAAAAAA", strings.Repeat("ABCD", 50) + "QQ"} {
		want, err := base64.RawURLEncoding.Strict().DecodeString(in)
		if err != nil {
			t.Fatalf("bad test %q", in)
		}
		dst := make([]byte, len(in))
		n, ok := b64Decode(dst, in)
		if !ok || string(dst[:n]) != string(want) {
			t.Errorf("b64Decode(%q) = %q %v, want %q", in, dst[:n], ok, want)
		}
	}
	for _, in := range []string{"Q", "QQ=", "QQ==", "QUI=", "QR", "QUJ", "Q Q", "QQ\n", "\nQQ", "QU\rI", "QU+D", "QU/D",
		"QU?D", "QU.D", "QUJDRA==", "QUJD====", "QUJDR", "é", "QUJD\x00", strings.Repeat("ABCD", 10) + "AB=C"} {
		dst := make([]byte, len(in)+8)
		if n, ok := b64Decode(dst, in); ok {
			t.Errorf("b64Decode(%q) accepted: %q", in, dst[:n])
		}
	}
	if _, ok := b64Decode(make([]byte, 1), "QUJD"); ok {
		t.Error("decoded into a short buffer")
	}
}

// special8's lowest flagged byte must be exactly the first special byte,
// whatever sits above it (the bit tricks may flag false positives there).
func TestSpecial8FirstByteExact(t *testing.T) {
	interesting := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '#', '\\', ']', 0x7e, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff, 'a', 'A'}
	rng := uint64(0x9e3779b97f4a7c15)
	for range 200000 {
		var w [8]byte
		for i := range w {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			w[i] = interesting[rng%uint64(len(interesting))]
		}
		x := uint64(0)
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(w[i])
		}
		want := 8
		for i, c := range w {
			if isSpecial[c] {
				want = i
				break
			}
		}
		got := 8
		if m := special8(x); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != want {
			t.Fatalf("%q: first special byte %d, special8 says %d", w, want, got)
		}
	}
}
