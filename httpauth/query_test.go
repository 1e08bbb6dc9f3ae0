package httpauth_test

import (
	"errors"
	"testing"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

func TestCheckQuery(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  error // nil, relayauth.ErrInvalid
	}{
		{"", nil},
		{"page=2&sort=name", nil},
		{"tokens=3", nil}, // not a credential name
		{"access_token=x", relayauth.ErrInvalid},
		{"page=2&API_KEY=x", relayauth.ErrInvalid},
		{"Token=", relayauth.ErrInvalid},
		{"x-api-key=1", relayauth.ErrInvalid},
		{"a=%zz", relayauth.ErrInvalid},
		{"a=1;b=2", relayauth.ErrInvalid}, // semicolons are not separators (Go 1.17+)
	} {
		err := httpauth.CheckQuery(tc.query)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("CheckQuery(%q) = %v, want %v", tc.query, err, tc.want)
		}
		if err != nil && httpauth.Status(err) != 400 {
			t.Errorf("CheckQuery(%q): status %d, want 400", tc.query, httpauth.Status(err))
		}
	}
}
