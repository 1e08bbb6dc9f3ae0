package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/token"
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

func TestFormValue(t *testing.T) {
	many := strings.Repeat("a=1&", maxFormFields) + "token=x"
	tests := []struct {
		body string
		want string
		err  error // nil: no error
	}{
		{"token=abc.def_-", "abc.def_-", nil},
		{"token=a%2Bb+c%3d", "a+b c=", nil},
		{"t%6Fken=x", "x", nil},
		{"t+oken=x&token=y", "y", nil}, // "t oken" is another field
		{"&&token_type_hint=access_token&token=a&", "a", nil},
		{"token", "", nil},
		{"token=", "", nil},
		{"", "", nil},
		{"tokens=a&toke=b&Token=c", "", nil},
		{"=a", "", nil},
		{"token=a&token=b", "", errFormRepeated},
		{"token=a&t%6fken=b", "", errFormRepeated},
		{"token=&token=b", "", errFormRepeated},
		{"token=a;b", "", errForm},
		{"x=1;token=a", "", errForm},
		{"token=%zz", "", errForm},
		{"token=%4", "", errForm},
		{"token=a%", "", errForm},
		{"other=%zz&token=a", "", errForm},
		{"%zz=1&token=a", "", errForm},
		{many, "", errFormFields},
		{strings.Repeat("a=1&", maxFormFields-1) + "token=x", "x", nil},
	}
	for _, tt := range tests {
		got, err := formValue([]byte(tt.body), "token")
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("formValue(%.40q) = %q, %v; want %q, %v", tt.body, got, err, tt.want, tt.err)
		}
		if _, perr := url.ParseQuery(tt.body); (perr != nil) != (tt.err == errForm || tt.err == errFormFields) {
			t.Errorf("%.40q: url.ParseQuery says %v, the table %v", tt.body, perr, tt.err)
		}
	}
}

// FuzzFormValue holds formValue to url.ParseQuery, which Request.ParseForm
// used: it refuses what ParseQuery refuses, refuses a field given twice,
// and otherwise finds the same value.
func FuzzFormValue(f *testing.F) {
	for _, s := range []string{"token=abc", "token=a%2Bb+c", "t%6Fken=x", "token=a&token=b", "a=1;b=2", "token=%zz", "&&=&token=", "token=%e2%82%ac%FF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := formValue([]byte(body), "token")
		vs, perr := url.ParseQuery(body)
		switch {
		case perr != nil:
			if err == nil {
				t.Fatalf("formValue(%q) = %q; url.ParseQuery refuses it: %v", body, got, perr)
			}
		case len(vs["token"]) > 1:
			if !errors.Is(err, errFormRepeated) {
				t.Fatalf("formValue(%q) = %q, %v; token appears %d times", body, got, err, len(vs["token"]))
			}
		case err != nil || got != vs.Get("token"):
			t.Fatalf("formValue(%q) = %q, %v; url.ParseQuery finds %q", body, got, err, vs.Get("token"))
		}
		if err != nil && !errors.Is(err, relayauth.ErrInvalid) {
			t.Fatalf("formValue(%q): %v is not ErrInvalid", body, err)
		}
	})
}

// TestIntrospectForm: the form of POST /auth/introspect is refused where
// Request.ParseForm refused it, and a token given twice is refused; no
// refusal repeats bytes of the body.
func TestIntrospectForm(t *testing.T) {
	h := newHarness(t)
	admin := h.loginAdmin()
	tok := admin.AccessToken
	tests := []struct {
		name, query, ct, body string
		status                int
	}{
		{"plain", "", "application/x-www-form-urlencoded", "token=" + tok, 200},
		{"with a charset", "", "application/x-www-form-urlencoded; charset=utf-8", "token=" + tok, 200},
		{"media type in capitals", "", "Application/X-WWW-Form-Urlencoded", "token=" + tok, 200},
		{"a hint beside it", "", "application/x-www-form-urlencoded", "token_type_hint=access_token&token=" + tok, 200},
		{"escaped name", "", "application/x-www-form-urlencoded", "t%6Fken=" + tok, 200},
		{"an unrelated query", "?v=1", "application/x-www-form-urlencoded", "token=" + tok, 200},
		{"token twice", "", "application/x-www-form-urlencoded", "token=" + tok + "&token=" + tok, 400},
		{"no token", "", "application/x-www-form-urlencoded", "token_type_hint=access_token", 400},
		{"empty token", "", "application/x-www-form-urlencoded", "token=", 400},
		{"malformed escape", "", "application/x-www-form-urlencoded", "token=" + tok[:20] + "%zz", 400},
		{"semicolon", "", "application/x-www-form-urlencoded", "token=" + tok[:20] + ";x=1", 400},
		{"malformed query", "?v=%zz", "application/x-www-form-urlencoded", "token=" + tok, 400},
		{"JSON", "", "application/json", `{"token":"` + tok + `"}`, 415},
		{"too large", "", "application/x-www-form-urlencoded", "token=" + tok + "&pad=" + strings.Repeat("p", MaxBodyBytes), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/auth/introspect"+tt.query, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ct)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				if !strings.HasPrefix(w.Body.String(), `{"active":true,`) {
					t.Fatalf("introspection %s", w.Body)
				}
				return
			}
			if strings.Contains(w.Body.String(), tok[:20]) {
				t.Fatalf("the problem repeats the token: %s", w.Body)
			}
		})
	}
}

// TestIntrospectAllocations pins what a whole introspection allocates in
// the server, with the verifier's cache on as it runs: the request copies
// of outer and Authenticate, the body's MaxBytesReader, the token copied
// out of the body, the cached claims' lists and the answer's scope
// string. It was 19 when the form was a url.Values and the answer went
// through encoding/json.
func TestIntrospectAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	h := newHarness(t, func(d *Deps) {
		d.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
		d.Verifier = token.NewVerifier(d.Keys, "relay-test", "relay-aud", token.WithClock(d.Now), token.WithCache(100))
	})
	p := h.loginAdmin()
	body := "token=" + p.AccessToken
	req := httptest.NewRequest("POST", "/auth/introspect", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	req.Header.Set("X-Request-Id", "fixed") // kept: no id is made
	rd := new(bodyReader)
	req.Body = rd
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		rd.Reset(body)
		clear(w.h)
		h.h.ServeHTTP(w, req)
	})
	if w.status != http.StatusOK {
		t.Fatalf("status %d", w.status)
	}
	if n > 6 {
		t.Errorf("%v allocations per introspection, budget 6", n)
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the status,
// and allocates nothing itself.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
