package httpauth

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/relayauth/relayauth"
)

func TestParseBearer(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer a-b_c~d+e/f==", "a-b_c~d+e/f==", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Bearer  abc", "", false},
		{"Bearer abc ", "", false},
		{"Bearer a=b", "", false},
		{"Bearer =", "", false},
		{"Bearer ab\tc", "", false},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"Bearerabc", "", false},
		{"Bearer " + strings.Repeat("a", MaxCredentialLen), "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseBearer(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBearer(%.40q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, relayauth.ErrUnauthenticated) {
			t.Errorf("ParseBearer(%.40q) error %v does not wrap ErrUnauthenticated", tt.in, err)
		}
	}
}

func TestBearerTokenHeaders(t *testing.T) {
	if _, err := BearerToken(http.Header{}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("no header: %v", err)
	}
	h := http.Header{}
	h.Add("Authorization", "Bearer a")
	h.Add("Authorization", "Bearer b")
	if _, err := BearerToken(h); err == nil {
		t.Fatal("two Authorization headers accepted")
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer ==", "Basic x", "Bearer a=b=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok, err := ParseBearer(in)
		if err != nil {
			if tok != "" {
				t.Fatal("token returned with an error")
			}
			return
		}
		if !strings.HasSuffix(in, tok) || len(tok) == 0 || len(in) > MaxCredentialLen || strings.ContainsAny(tok, " \t\r\n,\"") {
			t.Fatalf("accepted %q as %q", in, tok)
		}
	})
}
