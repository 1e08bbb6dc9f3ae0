package urlenc

import (
	"net/url"
	"testing"
)

func TestValidEscapes(t *testing.T) {
	for _, s := range []string{"", "abc", "%41", "a%2fb%2F", "%", "%4", "%4g", "%g4", "a%", "a%%41", "%41%", "+%20+", "%zz", "%E2%84%AA"} {
		_, err := url.QueryUnescape(s)
		if got := ValidEscapes(s); got != (err == nil) {
			t.Errorf("ValidEscapes(%q) = %v, url.QueryUnescape says %v", s, got, err)
		}
		if got := ValidEscapesBytes([]byte(s)); got != (err == nil) {
			t.Errorf("ValidEscapesBytes(%q) = %v, url.QueryUnescape says %v", s, got, err)
		}
	}
}

func TestUnhex(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		_, err := url.QueryUnescape("%0" + string(b))
		if IsHex(b) != (err == nil) {
			t.Errorf("IsHex(%q) = %v", b, IsHex(b))
		}
		if IsHex(b) {
			want, _ := url.QueryUnescape("%0" + string(b))
			if Unhex(b) != want[0] {
				t.Errorf("Unhex(%q) = %d, want %d", b, Unhex(b), want[0])
			}
		}
	}
}
