package codec

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestListRoundTrip(t *testing.T) {
	for _, list := range [][]string{
		nil,
		{""},
		{"", ""},
		{"admin"},
		{"admin", "tenant_admin", "tokens:issue"},
		{"4:abcd", "a:b", "日本語", "x\x00y"},
	} {
		enc := EncodeList(list)
		got, err := DecodeList(enc)
		if err != nil {
			t.Fatalf("DecodeList(%q): %v", enc, err)
		}
		if !slices.Equal(got, list) || (len(list) > 0 && got == nil) {
			t.Errorf("round trip of %q via %q = %q", list, enc, got)
		}
	}
}

func TestDecodeListRejects(t *testing.T) {
	for _, enc := range []string{":", "a:", "1:", "2:a", "-1:", "+1:a", "01:a", "1:ab:", "1", "99999999999:a"} {
		if got, err := DecodeList(enc); !errors.Is(err, ErrList) {
			t.Errorf("DecodeList(%q) = %q, %v; want ErrList", enc, got, err)
		}
	}
}

func FuzzDecodeList(f *testing.F) {
	f.Add("")
	f.Add("5:admin1:x")
	f.Add("0:")
	f.Fuzz(func(t *testing.T, enc string) {
		list, err := DecodeList(enc)
		if err != nil {
			return
		}
		// Canonical: whatever decodes re-encodes to the same text.
		if again := EncodeList(list); again != enc {
			t.Fatalf("DecodeList(%q) = %q, which encodes as %q", enc, list, again)
		}
	})
}

func TestNanos(t *testing.T) {
	if _, ok := Nanos(time.Time{}); ok {
		t.Error("the zero time has Unix nanoseconds")
	}
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	n, ok := Nanos(at)
	if !ok || !Time(n).Equal(at) || Time(n).Nanosecond() != 123456789 {
		t.Errorf("Nanos/Time round trip of %v = %v", at, Time(n))
	}
	pre := time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)
	if n, ok := Nanos(pre); !ok || !Time(n).Equal(pre) {
		t.Errorf("pre-1970 round trip failed: %v", Time(n))
	}
}
