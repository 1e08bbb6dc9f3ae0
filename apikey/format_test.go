package apikey_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
)

func newRaw(t testing.TB, env apikey.Env) string {
	t.Helper()
	s, err := apikey.Generate(env)
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

func TestCRC32MatchesStdlib(t *testing.T) {
	for n := range 100 {
		b := make([]byte, n)
		rand.Read(b)
		if got, want := apikey.CRC32(string(b)), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("crc of %d bytes = %08x, want %08x", n, got, want)
		}
	}
}

// keyShape is the format as a regular expression: an independent check.
var keyShape = regexp.MustCompile(`^rk_(live|test)_[0-9A-Za-z]{39}$`)

// referenceParse is Parse written the slow, obvious way, with hash/crc32.
func referenceParse(raw string) bool {
	if !keyShape.MatchString(raw) {
		return false
	}
	c := uint64(crc32.ChecksumIEEE([]byte(raw[:41])))
	var want [6]byte
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := 5; i >= 0; i-- {
		want[i] = alphabet[c%62]
		c /= 62
	}
	return raw[41:] == string(want[:])
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for _, env := range []apikey.Env{apikey.EnvLive, apikey.EnvTest} {
		for range 200 {
			raw := newRaw(t, env)
			if len(raw) != apikey.Length || !strings.HasPrefix(raw, "rk_"+string(env)+"_") || !referenceParse(raw) {
				t.Fatalf("Generate(%s) = a key of the wrong shape (%d bytes)", env, len(raw))
			}
			if seen[raw] {
				t.Fatal("Generate repeated a key")
			}
			seen[raw] = true
			p, err := apikey.Parse(raw)
			if err != nil || p.Env != env {
				t.Fatalf("Parse(Generate(%s)) = %v, %v", env, p.Env, err)
			}
			if p.Hash() != apikey.Hash(sha256.Sum256([]byte(raw))) || apikey.HashOf(raw) != p.Hash() {
				t.Fatal("Hash is not the SHA-256 of the key")
			}
		}
	}
	if _, err := apikey.Generate("prod"); !errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Generate of an unknown environment: %v", err)
	}
}

// TestFormatIsStable pins the format: a fixed body gives a fixed key. A
// change here breaks every key already issued. The expected keys were
// computed independently (Python: int → base62, zlib.crc32).
func TestFormatIsStable(t *testing.T) {
	for _, tc := range []struct {
		body byte
		env  apikey.Env
		want string
	}{
		{0x00, apikey.EnvLive, "rk_live_0000000000000000000000000000000001Dcbuq"},
		{0xff, apikey.EnvTest, "rk_test_2lFA6LboL2xx0ldQH2K1TdSrwuqMMiME34bQXGw"}, // 2^192-1
	} {
		raw, err := apikey.GenerateFrom(bytes.NewReader(bytes.Repeat([]byte{tc.body}, 24)), tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if raw != tc.want {
			t.Errorf("key of a body of %#x bytes = %q, want %q", tc.body, raw, tc.want)
		}
		if _, err := apikey.Parse(raw); err != nil || !referenceParse(raw) {
			t.Errorf("%q does not parse: %v", raw, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := newRaw(t, apikey.EnvLive)
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, raw string
		want      error
	}{
		{"empty", "", apikey.ErrMalformed},
		{"short", good[:apikey.Length-1], apikey.ErrMalformed},
		{"long", good + "a", apikey.ErrMalformed},
		{"unknown env", "rk_prod_" + good[8:], apikey.ErrMalformed},
		{"upper-case prefix", "RK_live_" + good[8:], apikey.ErrMalformed},
		{"other prefix", "sk_live_" + good[8:], apikey.ErrMalformed},
		{"leading space", " " + good[1:], apikey.ErrMalformed},
		{"trailing newline", good[:apikey.Length-1] + "\n", apikey.ErrMalformed},
		{"dash in body", good[:20] + "-" + good[21:], apikey.ErrMalformed},
		{"non-ASCII", good[:20] + "\xc3" + good[21:], apikey.ErrMalformed},
		{"NUL", good[:30] + "\x00" + good[31:], apikey.ErrMalformed},
		{"body typo", flip(20), apikey.ErrChecksum},
		{"checksum typo", flip(apikey.Length - 1), apikey.ErrChecksum},
		{"other env, same rest", "rk_test_" + good[8:], apikey.ErrChecksum},
	} {
		_, err := apikey.Parse(tc.raw)
		if !errors.Is(err, tc.want) || !errors.Is(err, relayauth.ErrUnauthenticated) {
			t.Errorf("Parse(%s): %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && len(tc.raw) > 12 && strings.Contains(err.Error(), tc.raw[8:20]) {
			t.Errorf("Parse(%s): the error text contains the key", tc.name)
		}
	}
}

// TestSingleCharSubstitution: every substitution of one character fails.
// CRC-32 detects every error confined to 32 consecutive bits, so this is
// certain, not probable: the test is exhaustive for a few keys.
func TestSingleCharSubstitution(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for range 5 {
		raw := newRaw(t, apikey.EnvTest)
		b := []byte(raw)
		for i := range b {
			orig := b[i]
			for _, c := range []byte(alphabet + "_") {
				if c == orig {
					continue
				}
				b[i] = c
				if _, err := apikey.Parse(string(b)); err == nil {
					t.Fatalf("substituting position %d still parses", i)
				} else if i >= 8 && c != '_' && !errors.Is(err, apikey.ErrChecksum) {
					t.Fatalf("substituting position %d: %v, want ErrChecksum", i, err)
				}
			}
			b[i] = orig
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	raw := newRaw(t, apikey.EnvLive)
	bad := raw[:apikey.Length-1] + "0"
	if bad == raw {
		bad = raw[:apikey.Length-1] + "1"
	}
	if n := testing.AllocsPerRun(1000, func() {
		p, err := apikey.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Hash()
		apikey.Parse(bad)
		apikey.Parse("garbage")
	}); n != 0 {
		t.Errorf("Parse and Hash allocate %v times per run", n)
	}
}

func TestMask(t *testing.T) {
	raw := newRaw(t, apikey.EnvLive)
	for _, tc := range []struct{ in, want string }{
		{raw, "rk_live_…" + raw[apikey.Length-4:]},
		{"rk_test_" + raw[8:], "rk_test_…" + raw[apikey.Length-4:]},
		{raw[:30], "rk_live_…"},
		{raw + "x", "rk_live_…"},
		{"hunter2hunter2", "…"},
		{"", "…"},
	} {
		if got := apikey.Mask(tc.in); got != tc.want {
			t.Errorf("Mask(...) = %q, want %q", got, tc.want)
		}
	}
	if m := apikey.Mask(raw); strings.Contains(m, raw[8:apikey.Length-4]) || strings.Contains(m, raw[10:20]) {
		t.Error("Mask shows the middle of the key")
	}
}

// TestParsedDoesNotPrintTheKey: a Parsed that reaches fmt, slog or JSON
// shows the masked key only.
func TestParsedDoesNotPrintTheKey(t *testing.T) {
	raw := newRaw(t, apikey.EnvLive)
	p, err := apikey.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "parsed", p, "any", any(p))
	j, _ := json.Marshal(p)
	out := fmt.Sprintf("%v %+v %#v %s %q", p, p, p, p, p) + buf.String() + string(j)
	if strings.Contains(out, raw[8:30]) {
		t.Errorf("a Parsed printed its key: %s", out)
	}
	if !strings.Contains(out, apikey.Mask(raw)) {
		t.Errorf("a Parsed did not print its masked key: %s", out)
	}
}

func TestHashText(t *testing.T) {
	h := apikey.HashOf("x")
	b, _ := h.MarshalText()
	var back apikey.Hash
	if err := back.UnmarshalText(b); err != nil || back != h {
		t.Errorf("hash round trip: %v", err)
	}
	for _, bad := range []string{"", strings.ToUpper(string(b)), string(b[:62]), string(b) + "00", strings.Repeat("g", 64)} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

func TestEnvFor(t *testing.T) {
	for env, want := range map[string]apikey.Env{"production": apikey.EnvLive, "staging": apikey.EnvTest, "development": apikey.EnvTest, "": apikey.EnvTest} {
		if got := apikey.EnvFor(env); got != want {
			t.Errorf("EnvFor(%q) = %s, want %s", env, got, want)
		}
	}
}

// FuzzParse: Parse never panics and agrees with the slow reference, and a
// key it accepts masks without its body.
func FuzzParse(f *testing.F) {
	f.Add(newRaw(f, apikey.EnvLive))
	f.Add(newRaw(f, apikey.EnvTest))
	f.Add("rk_live_")
	f.Add("rk_live_0000000000000000000000000000000001Dcbuq")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := apikey.Parse(raw)
		if ok := err == nil; ok != referenceParse(raw) {
			t.Fatalf("Parse = %v, reference = %v", err, !ok)
		}
		if err != nil {
			if !errors.Is(err, relayauth.ErrUnauthenticated) {
				t.Fatalf("Parse error %v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		if p.Env != apikey.Env(raw[3:7]) {
			t.Fatalf("Env = %s", p.Env)
		}
		if m := apikey.Mask(raw); strings.Contains(m, raw[8:41]) || len(m) != len("rk_live_…")+4 {
			t.Fatalf("Mask = %q", m)
		}
	})
}

// FuzzRoundTrip: every key generated from any body parses, and no single
// character substitution of it does.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint16(0), byte('a'))
	f.Add(bytes.Repeat([]byte{0xff}, 24), uint16(46), byte('Z'))
	f.Add([]byte("seed"), uint16(20), byte('0'))
	f.Fuzz(func(t *testing.T, seed []byte, pos uint16, c byte) {
		body := sha256.Sum256(seed)
		env := apikey.EnvLive
		if len(seed)%2 == 1 {
			env = apikey.EnvTest
		}
		raw, err := apikey.GenerateFrom(bytes.NewReader(body[:24]), env)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := apikey.Parse(raw); err != nil || p.Env != env {
			t.Fatalf("a generated key does not parse: %v", err)
		}
		i := int(pos) % len(raw)
		if raw[i] == c {
			return
		}
		b := []byte(raw)
		b[i] = c
		if _, err := apikey.Parse(string(b)); err == nil {
			t.Fatalf("substituting %q at %d still parses", c, i)
		}
	})
}
