package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
)

// MaxBodyBytes caps every request body. Auth requests are small.
const MaxBodyBytes = 16 << 10

// decodeJSON reads one JSON object into dst: application/json only, at
// most MaxBodyBytes, no unknown fields, nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := requireMediaType(r, "application/json"); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return bodyError(err)
	}
	if err := strictNames(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return fmt.Errorf("%w: body holds more than one JSON value", relayauth.ErrInvalid)
	}
	return nil
}

// strictNames refuses what encoding/json would quietly accept: a member
// name twice in one object (it keeps the last, so {"username":"nobody",
// "username":"admin"} reads as admin, while a proxy or WAF in front may
// have judged the first), and names in another case ("USERNAME", or a
// Kelvin sign for "k"), which it matches to our fields. Every field of
// this API is lower-case ASCII.
func strictNames(body []byte) error {
	type frame struct {
		names map[string]bool // nil in an array
		name  bool            // in an object: a member name comes next
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error that decoding reports
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].name && tok != json.Delim('}') {
			name, _ := tok.(string)
			if !lowerASCII(name) {
				return fmt.Errorf("%w: member name %q is not lower-case ASCII", relayauth.ErrInvalid, truncate(name, 64))
			}
			if stack[top].names[name] {
				return fmt.Errorf("%w: member %q appears twice", relayauth.ErrInvalid, truncate(name, 64))
			}
			stack[top].names[name] = true
			stack[top].name = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{names: map[string]bool{}, name: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		}
		// A value ended: in an object, a member name comes next.
		if n := len(stack) - 1; n >= 0 && stack[n].names != nil {
			stack[n].name = true
		}
	}
}

func lowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be
// absent: no body and no Content-Type leaves dst as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return decodeJSON(w, r, dst)
}

// seconds turns an optional count of seconds from a request into a
// duration in [0, limit]: absent is 0.
func seconds(field string, v *int64, limit time.Duration) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	if maxSec := int64(limit / time.Second); *v < 0 || *v > maxSec {
		return 0, fmt.Errorf("%w: %s must be 0 to %d seconds", relayauth.ErrInvalid, field, maxSec)
	}
	return time.Duration(*v) * time.Second, nil
}

// decodeForm parses an application/x-www-form-urlencoded body.
func decodeForm(w http.ResponseWriter, r *http.Request) error {
	if err := requireMediaType(r, "application/x-www-form-urlencoded"); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return bodyError(err)
	}
	return nil
}

func requireMediaType(r *http.Request, want string) error {
	if len(r.Header["Content-Type"]) > 1 {
		return fmt.Errorf("%w: more than one Content-Type header", relayauth.ErrInvalid)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return fmt.Errorf("%w: Content-Type must be %s", relayauth.ErrUnsupportedMediaType, want)
	}
	return nil
}

// bodyError turns a decoding error into a client error whose text echoes
// nothing of the body but the position and kind of the fault, and nothing
// of the connection: a read error names sockets, a form parser's error
// quotes bytes of the body (a token, for introspection).
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return fmt.Errorf("%w: body over %d bytes", relayauth.ErrTooLarge, MaxBodyBytes)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: the body did not arrive in time", relayauth.ErrTimeout)
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: malformed JSON at byte %d", relayauth.ErrInvalid, syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("%w: the body must be a JSON object", relayauth.ErrInvalid)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: field %q must be %s", relayauth.ErrInvalid, truncate(typ.Field, 64), jsonKind(typ.Type))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: body is empty or cut short", relayauth.ErrInvalid)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%w: %s", relayauth.ErrInvalid, truncate(strings.TrimPrefix(err.Error(), "json: "), 120))
	default:
		return fmt.Errorf("%w: the body could not be read or parsed", relayauth.ErrInvalid)
	}
}

// jsonKind names, in JSON's terms, what a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// writeJSON answers v as JSON with status. It encodes before it writes,
// so a value that cannot be encoded is a 500 problem, not half a 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b := jsonBuffers.Get().(*jsonBuffer)
	defer b.release()
	if err := b.enc.Encode(v); err != nil {
		httpauth.WriteProblem(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header()["Content-Type"] = jsonContentType // shared, never modified: no allocation
	w.WriteHeader(status)
	_, _ = w.Write(b.buf.Bytes())
}

var jsonContentType = []string{"application/json"}

// jsonBuffer is an encoder and the buffer it writes to, reused across
// responses.
type jsonBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonBuffers = sync.Pool{New: func() any {
	b := new(jsonBuffer)
	b.enc = json.NewEncoder(&b.buf)
	return b
}}

// release returns b to the pool, unless one large answer grew it: those
// are rare and their buffers are left to the GC.
func (b *jsonBuffer) release() {
	if b.buf.Cap() > 64<<10 {
		return
	}
	b.buf.Reset()
	jsonBuffers.Put(b)
}
