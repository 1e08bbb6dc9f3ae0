package server

import (
	"bytes"
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

// encoding/json keeps the last of two equal names and matches names in
// any case; a body that means two things to two parsers is refused.
func TestStrictNames(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"username":"a","password":"b"}`, true},
		{`{"name":"k","scopes":["a","b"],"roles":[]}`, true},
		{`{"a":{"b":1,"c":[{"b":2},{"b":3}]},"b":4}`, true}, // equal names in different objects
		{`{}`, true},
		{`[{"a":1},{"a":1}]`, true},
		{`{"username":"nobody","username":"admin"}`, false},
		{`{"USERNAME":"admin"}`, false},
		{`{"Username":"admin"}`, false},
		{"{\"\u212aey\":1}", false}, // Kelvin sign
		{`{"a":{"b":1,"b":2}}`, false},
		{`{"a":[{"b":1,"b":2}]}`, false},
		{`{"a":[1,2],"a":3}`, false},
		{`{"a":{}, "a":{}}`, false},
		{`{"a":`, true}, // malformed: left to the decoder, which says where
	}
	for _, tt := range tests {
		err := strictNames([]byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("strictNames(%s) = %v", tt.body, err)
		}
		if err != nil && !errors.Is(err, relayauth.ErrInvalid) {
			t.Errorf("strictNames(%s): %v is not ErrInvalid", tt.body, err)
		}
	}
}

// FuzzStrictNames compares strictNames, a loop over tokens, with a
// recursive reading of the same rules on valid JSON.
func FuzzStrictNames(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[{"b":1}],"c":{"d":2}}`, `{"a":1,"a":2}`, `[1,{"x":[]}]`, `{"A":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		want := namesOK(json.RawMessage(body))
		if got := strictNames([]byte(body)) == nil; got != want {
			t.Fatalf("strictNames(%s) accepts: %v, want %v", body, got, want)
		}
	})
}

// namesOK is the oracle: every object's names lower-case ASCII, none twice.
func namesOK(raw json.RawMessage) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		_, _ = dec.Token() // {
		seen := map[string]bool{}
		for dec.More() {
			tok, _ := dec.Token()
			name := tok.(string)
			if seen[name] || !lowerASCII(name) {
				return false
			}
			seen[name] = true
			var v json.RawMessage
			if dec.Decode(&v) != nil || !namesOK(v) {
				return false
			}
		}
		return true
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		for _, v := range arr {
			if !namesOK(v) {
				return false
			}
		}
	}
	return true
}
