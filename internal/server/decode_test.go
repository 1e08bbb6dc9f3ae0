package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "read tcp 127.0.0.1:8080->10.1.2.3:42486: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

// bodyError says what is wrong with a body in the client's terms, and
// never repeats a socket address, a Go type or bytes of the body.
func TestBodyError(t *testing.T) {
	_, escape := url.ParseQuery("token=eyJhbGciOi%zz")
	tests := []struct {
		name   string
		err    error
		status int
		detail string
	}{
		{"read timeout", timeoutError{}, http.StatusRequestTimeout, "did not arrive in time"},
		{"other read error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by 10.1.2.3")}, 400, "could not be read"},
		{"wrong type of a field", &json.UnmarshalTypeError{Value: "number", Type: reflect.TypeFor[relayauth.Secret](), Field: "password"}, 400, `field "password" must be a string`},
		{"a number field", &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[*int64](), Field: "expires_in"}, 400, `field "expires_in" must be an integer`},
		{"not an object", &json.UnmarshalTypeError{Value: "array", Type: reflect.TypeFor[struct{ A int }]()}, 400, "must be a JSON object"},
		{"unknown field", errors.New(`json: unknown field "admin"`), 400, `unknown field "admin"`},
		{"form escape", escape, 400, "could not be read or parsed"},
		{"too large", &http.MaxBytesError{Limit: MaxBodyBytes}, 413, "body over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bodyError(tt.err)
			if got := httpauth.Status(err); got != tt.status {
				t.Fatalf("status %d, want %d (%v)", got, tt.status, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.detail) {
				t.Fatalf("%q does not say %q", msg, tt.detail)
			}
			for _, leak := range []string{"10.1.2.3", "relayauth.", "eyJ", "%zz", "json:"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("%q contains %q", msg, leak)
				}
			}
		})
	}
}
