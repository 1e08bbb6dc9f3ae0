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
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/httpauth"
	"github.com/relayauth/relayauth/internal/urlenc"
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

// decodeFormValue reads an application/x-www-form-urlencoded body of at
// most MaxBodyBytes and returns the value of its field name: "" when the
// field is absent or empty, an error when it appears more than once (RFC
// 6749 §3.1: parameters MUST NOT be included more than once; a proxy in
// front may have judged the other one). The body and the URL's query are
// refused where Request.ParseForm would refuse them (formValue), but no
// url.Values is built for a body that carries one field: introspection is
// on the path of every request a gateway checks.
func decodeFormValue(w http.ResponseWriter, r *http.Request, name string) (string, error) {
	if err := requireMediaType(r, "application/x-www-form-urlencoded"); err != nil {
		return "", err
	}
	if r.Body == nil {
		return "", errForm
	}
	b := formBuffers.Get().(*formBuffer)
	defer formBuffers.Put(b)
	var rd io.Reader = r.Body
	if r.ContentLength < 0 || r.ContentLength > MaxBodyBytes {
		// A declared length within the limit is all net/http lets the
		// handler read; any other body needs the limit (and its 413).
		rd = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	body, err := b.read(rd)
	if err != nil {
		return "", bodyError(err)
	}
	v, err := formValue(body, name)
	if err != nil {
		return "", err
	}
	if r.URL.RawQuery != "" {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			return "", bodyError(err)
		}
	}
	return v, nil
}

// formBuffer holds a form body while it is parsed; bodies are at most
// MaxBodyBytes, so every buffer goes back to the pool.
type formBuffer struct{ buf []byte }

var formBuffers = sync.Pool{New: func() any { return &formBuffer{buf: make([]byte, 0, 1024)} }}

// read reads rd to its end into b, reusing b's memory.
func (b *formBuffer) read(rd io.Reader) ([]byte, error) {
	buf := b.buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			b.buf = buf
			return buf, nil
		}
		if err != nil {
			b.buf = buf
			return nil, err
		}
	}
}

var (
	// errForm is bodyError's answer to a form url.ParseQuery refuses: it
	// quotes none of the body.
	errForm         = fmt.Errorf("%w: the body could not be read or parsed", relayauth.ErrInvalid)
	errFormFields   = fmt.Errorf("%w: form has more than %d fields", relayauth.ErrInvalid, maxFormFields)
	errFormRepeated = fmt.Errorf("%w: a form field appears more than once", relayauth.ErrInvalid)
)

// maxFormFields is url.ParseQuery's limit on the number of fields.
const maxFormFields = 10000

// formValue returns the unescaped value of the field name of body, an
// application/x-www-form-urlencoded form: "" when it is absent, an error
// when it appears twice. It refuses every body url.ParseQuery refuses
// (fields beyond its limit, a ';' in a field, a malformed %-escape in any
// name or value), and otherwise answers as ParseQuery(body)[name] read
// strictly: FuzzFormValue checks this. The value is a copy: body may be
// reused.
func formValue(body []byte, name string) (string, error) {
	if bytes.Count(body, []byte("&")) >= maxFormFields {
		return "", errFormFields
	}
	var value []byte
	found := false
	for len(body) > 0 {
		var field []byte
		field, body, _ = bytes.Cut(body, []byte("&"))
		if bytes.IndexByte(field, ';') >= 0 {
			return "", errForm
		}
		if len(field) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(field, []byte("="))
		match, ok := unescapesTo(k, name)
		if !ok || !urlenc.ValidEscapesBytes(v) {
			return "", errForm
		}
		if match {
			if found {
				return "", errFormRepeated
			}
			value, found = v, true
		}
	}
	return unescapeForm(value), nil
}

// unescapesTo reports whether s, a form field name, unescapes to name,
// and whether its escapes are valid, without building the unescaped name.
func unescapesTo(s []byte, name string) (match, ok bool) {
	if !urlenc.ValidEscapesBytes(s) {
		return false, false
	}
	j := 0
	for i := 0; i < len(s); i, j = i+1, j+1 {
		c := s[i]
		switch c {
		case '%':
			c = urlenc.Unhex(s[i+1])<<4 | urlenc.Unhex(s[i+2])
			i += 2
		case '+':
			c = ' '
		}
		if j >= len(name) || name[j] != c {
			return false, true
		}
	}
	return j == len(name), true
}

// unescapeForm is url.QueryUnescape of s, whose escapes are valid, as a
// new string.
func unescapeForm(s []byte) string {
	if bytes.IndexByte(s, '%') < 0 && bytes.IndexByte(s, '+') < 0 {
		return string(s)
	}
	var t strings.Builder
	t.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			t.WriteByte(urlenc.Unhex(s[i+1])<<4 | urlenc.Unhex(s[i+2]))
			i += 2
		case '+':
			t.WriteByte(' ')
		default:
			t.WriteByte(c)
		}
	}
	return t.String()
}

func requireMediaType(r *http.Request, want string) error {
	ct := r.Header["Content-Type"] // canonical name: no Get() cost
	if len(ct) > 1 {
		return fmt.Errorf("%w: more than one Content-Type header", relayauth.ErrInvalid)
	}
	if len(ct) == 1 && ct[0] == want {
		return nil // what ParseMediaType would answer, without its parameter map
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
	writeBody(w, status, b.buf.Bytes())
}

// writeBody answers body, encoded JSON, with status.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType // shared, never modified: no allocation
	w.WriteHeader(status)
	_, _ = w.Write(body)
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
