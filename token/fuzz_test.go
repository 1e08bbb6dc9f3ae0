package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/relayauth/relayauth"
)

// Fuzz targets. Each is cheap per input; run each for a while with e.g.
//
//	go test -run='^$' -fuzz='^FuzzVerify$' -fuzztime=10s ./token/
//	go test -run='^$' -fuzz='^FuzzDifferentialGolangJWT$' -fuzztime=10s ./token/
//	go test -run='^$' -fuzz='^FuzzJSONScanner$' -fuzztime=10s ./token/
//	go test -run='^$' -fuzz='^FuzzBase64$' -fuzztime=10s ./token/

// FuzzVerify: arbitrary strings never panic, every error is a token
// sentinel, and whatever is accepted satisfies every rule. Each input is
// also re-signed with the test key (its first two segments kept as they
// are), so the fuzzer reaches the header-after-lookup, payload base64 and
// claims code, not only the signature check.
func FuzzVerify(f *testing.F) {
	hs, ed, es := mustHS256(f), mustEdDSA(f), mustES256(f)
	ks := mustKeySet(f, hs, ed, es)
	for _, k := range []*Key{hs, ed, es} {
		for _, typ := range []Type{Access, Refresh} {
			tok, err := NewIssuer(ks, testIssuer, []string{testAudience}).Issue(fullClaimsSigner(k, typ))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tok)
		}
		f.Add(signRaw(f, k, hdr(k, "at+jwt"), claimsJSON()))
	}
	for _, s := range []string{rfc7515A1Token, rfc7515A5Token, "", ".", "..", "...", "a.b.c", strings.Repeat(".", 100),
		signRaw(f, hs, hdr(hs, "at+jwt"), claimsJSON(`"x":{"y":[1,2.5e3,"\ud83d\ude00",null,true]}`)),
		signRaw(f, hs, hdr(hs, "at+jwt"), `{"sub":"\u0041\n","aud":["a","relay-api"],"exp":9007199254740991}`),
	} {
		f.Add(s)
	}
	var wp wpJWSFile
	if data, err := readTestdata("json_web_signature_test.json"); err == nil && json.Unmarshal(data, &wp) == nil {
		for _, g := range wp.TestGroups {
			for _, tc := range g.Tests {
				f.Add(tc.JWS)
			}
		}
	}
	v := testVerifier(ks)
	cached := testVerifier(ks, WithCache(64))
	f.Fuzz(func(t *testing.T, tok string) {
		check := func(tok string) {
			for _, typ := range []Type{Access, Refresh} {
				c, err := v.Verify(tok, typ)
				for range 2 { // the second call may be a cache hit
					cc, cerr := cached.Verify(tok, typ)
					if fmt.Sprint(cerr) != fmt.Sprint(err) || !reflect.DeepEqual(cc, c) {
						t.Fatalf("cached verifier (%+v, %v), uncached (%+v, %v)", cc, cerr, c, err)
					}
				}
				if err != nil {
					if !errors.Is(err, relayauth.ErrUnauthenticated) {
						t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
					}
					continue
				}
				if c.Type != typ || c.Issuer != testIssuer || !slices.Contains(c.Audience, testAudience) ||
					c.Subject == "" || c.SessionID == "" || c.ID == "" || testNow >= c.ExpiresAt+30 ||
					testNow < c.NotBefore-30 || testNow < c.IssuedAt-30 || len(tok) > DefaultMaxTokenSize {
					t.Fatalf("accepted token breaks a rule: %+v", c)
				}
				for _, s := range append(append([]string{c.Subject, c.ID, c.SessionID, c.Tenant}, c.Roles...), c.Scopes...) {
					if !utf8.ValidString(s) {
						t.Fatalf("invalid UTF-8 claim %q", s)
					}
				}
			}
			if _, err := VerifyJWS(ks, tok, 0); err != nil && !errors.Is(err, relayauth.ErrUnauthenticated) {
				t.Fatalf("VerifyJWS error %v does not wrap ErrUnauthenticated", err)
			}
		}
		check(tok)
		if i := strings.LastIndexByte(tok, '.'); i >= 0 && len(tok) <= DefaultMaxTokenSize {
			mac := hmac.New(sha256.New, testSecret)
			mac.Write([]byte(tok[:i]))
			check(tok[:i] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
		}
	})
}

func fullClaimsSigner(k *Key, typ Type) Claims {
	c := fullClaims(typ)
	c.Subject = "signed-by-" + string(k.alg)
	return c
}

func readTestdata(name string) ([]byte, error) {
	return readFile(wycheproofDir + "/" + name)
}

// FuzzDifferentialGolangJWT: HS256 tokens built from fuzzed header and
// claims JSON, signed with the test key, go to our Verifier and to
// golang-jwt configured for the same checks (alg allowlist, iss, aud, exp
// required, iat, leeway, fixed clock). The bugs this catches:
//
//   - we ACCEPT something golang-jwt rejects; or
//   - we reject a plain, well-formed token that golang-jwt accepts.
//
// Where we are deliberately stricter, the input is not "plain" and only our
// rejection is checked. The intentional differences:
//
//   - duplicate member names, and names that differ from another member or
//     a known parameter/claim only in case (encoding/json keeps the last
//     duplicate and matches names case-insensitively);
//   - typ must be "at+jwt" (golang-jwt ignores typ); kid, sub, sid and jti
//     are required; crit, jku, x5u, jwk and x5c are refused;
//   - time claims must be integer literals with |v| <= 2^53-1 (golang-jwt
//     accepts fractions and exponents); known claims may not be null;
//   - strings must be valid UTF-8 without lone surrogates (encoding/json
//     substitutes U+FFFD); nesting is limited to 15 levels; at most 64
//     members per object and 64 audiences+roles+scopes; scope must follow
//     the RFC 6749 grammar; the header is at most 1 KiB.
//
// One difference runs the other way and is accepted by this test: an
// unknown header parameter holding a number beyond float64 range (1e400)
// makes golang-jwt's map[string]any decoding fail; we skip unknown header
// values by grammar only, and such a number carries no meaning for us.
func FuzzDifferentialGolangJWT(f *testing.F) {
	hs := mustHS256(f)
	ks := mustKeySet(f, hs)
	v := testVerifier(ks)
	p := golangJWTParser()
	keyFunc := func(*jwt.Token) (any, error) { return testSecret, nil }
	goodHdr := hdr(hs, "at+jwt")

	seeds := [][2]string{
		{goodHdr, claimsJSON()},
		{goodHdr, claimsWithout(nil)},
		{goodHdr, claimsJSON(`"sub":"x"`)},
		{goodHdr, claimsJSON(`"SUB":"x"`)},
		{goodHdr, claimsJSON(`"\u0073ub":"x"`)},
		{goodHdr, claimsWithout([]string{"exp"}, `"exp":1.7e9`)},
		{goodHdr, claimsWithout([]string{"exp"}, `"exp":1700000600.5`)},
		{goodHdr, claimsWithout([]string{"exp"}, `"exp":1e400`)},
		{goodHdr, claimsWithout([]string{"exp"}, `"exp":9007199254740993`)},
		{goodHdr, claimsWithout([]string{"exp"}, fmt.Sprintf(`"exp":%d`, testNow-30))},
		{goodHdr, claimsWithout([]string{"exp"}, fmt.Sprintf(`"exp":%d`, testNow-29))},
		{goodHdr, claimsWithout([]string{"nbf"}, fmt.Sprintf(`"nbf":%d`, testNow+31))},
		{goodHdr, claimsWithout([]string{"iat"}, fmt.Sprintf(`"iat":%d`, testNow+30))},
		{goodHdr, claimsWithout([]string{"aud"}, `"aud":["x","relay-api"]`)},
		{goodHdr, claimsWithout([]string{"aud"}, `"aud":[]`)},
		{goodHdr, claimsWithout([]string{"aud"}, `"aud":null`)},
		{goodHdr, claimsWithout([]string{"sub"}, `"sub":null`)},
		{goodHdr, claimsWithout([]string{"sub"}, `"sub":"\ud800"`)},
		{goodHdr, claimsWithout([]string{"sub"}, "\"sub\":\"\xff\"")},
		{goodHdr, claimsWithout(nil, `"roles":["a",1]`)},
		{goodHdr, claimsWithout(nil, `"scope":"a  b"`)},
		{goodHdr, claimsWithout(nil, `"x":{"a":[1,{"b":null}],"c":"\u00e9"}`)},
		{goodHdr, claimsWithout(nil, `"x":`+strings.Repeat("[", 20)+strings.Repeat("]", 20))},
		{goodHdr, claimsJSON() + " x"},
		{goodHdr, "null"},
		{goodHdr, "[]"},
		{fmt.Sprintf(`{"alg":"HS256","alg":"none","kid":%q,"typ":"at+jwt"}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","ALG":"none"}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","crit":["exp"]}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt","x":1e400}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(`{"alg":"HS256","kid":%q}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(`{"alg":"none","kid":%q,"typ":"at+jwt"}`, hs.kid), claimsJSON()},
		{fmt.Sprintf(` { "typ" : "application/at+jwt" , "kid" : %q , "alg" : "HS256" } `, hs.kid), claimsJSON()},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(in))
		tok := in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

		ours, ourErr := v.VerifyAccess(tok)
		var theirs golangJWTClaims
		_, theirErr := p.ParseWithClaims(tok, &theirs, keyFunc)

		if ourErr == nil {
			if theirErr != nil {
				var hm map[string]any
				var ute *json.UnmarshalTypeError
				if err := json.Unmarshal(header, &hm); errors.As(err, &ute) {
					return // documented: out-of-range number in an unknown header parameter
				}
				t.Fatalf("we accept what golang-jwt rejects (%v)\nheader %q\nclaims %q", theirErr, header, claims)
			}
			sameClaims(t, ours, &theirs)
			return
		}
		if theirErr == nil && plainHeader(header, hs.kid) && plainClaims(claims) && len(tok) <= DefaultMaxTokenSize {
			t.Fatalf("we reject a plain token golang-jwt accepts: %v\nheader %q\nclaims %q", ourErr, header, claims)
		}
	})
}

func sameClaims(t *testing.T, ours Claims, theirs *golangJWTClaims) {
	t.Helper()
	unix := func(d *jwt.NumericDate) int64 {
		if d == nil {
			return 0
		}
		return d.Unix()
	}
	mismatch := ours.Issuer != theirs.Issuer || ours.Subject != theirs.Subject || ours.ID != theirs.ID ||
		ours.SessionID != theirs.SID || ours.Tenant != theirs.Tenant ||
		strings.Join(ours.Scopes, " ") != theirs.Scope ||
		!slices.Equal(ours.Audience, []string(theirs.Audience)) ||
		!slices.Equal(ours.Roles, theirs.Roles) && !(len(ours.Roles) == 0 && len(theirs.Roles) == 0) ||
		ours.ExpiresAt != unix(theirs.ExpiresAt) || ours.NotBefore != unix(theirs.NotBefore) ||
		ours.IssuedAt != unix(theirs.IssuedAt)
	if mismatch {
		t.Fatalf("claims differ:\nours   %+v\ntheirs %+v", ours, theirs)
	}
}

// surrogateEscape finds \uD800-\uDFFF escapes (and, conservatively, an
// escaped backslash followed by such text): encoding/json turns lone
// surrogates into U+FFFD where we refuse them, so such input is not plain.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)

var integerLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// plainObject decodes a JSON object if it is in the subset where our
// parser has no reason of its own to refuse it.
func plainObject(data []byte, known []string) (map[string]json.RawMessage, bool) {
	if !utf8.Valid(data) || surrogateEscape.Match(data) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	m := map[string]json.RawMessage{}
	var names []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k := kt.(string)
		if strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, false // documented: a member name holding a control character (DEL too) is refused
		}
		for _, n := range names {
			if strings.EqualFold(n, k) {
				return nil, false
			}
		}
		for _, n := range known {
			if k != n && strings.EqualFold(n, k) {
				return nil, false
			}
		}
		names = append(names, k)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil || nesting(raw) > maxDepth-1 {
			return nil, false
		}
		m[k] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return m, len(names) <= maxMembers
}

// nesting is the container depth of a JSON text.
func nesting(raw []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func plainHeader(data []byte, kid string) bool {
	m, ok := plainObject(data, headerNames)
	if !ok || len(data) > maxHeaderSize {
		return false
	}
	for _, n := range []string{"crit", "jku", "x5u", "jwk", "x5c"} {
		if _, ok := m[n]; ok {
			return false
		}
	}
	alg, ok1 := jsonString(m["alg"])
	k, ok2 := jsonString(m["kid"])
	typ, ok3 := jsonString(m["typ"])
	return ok1 && ok2 && ok3 && alg == "HS256" && k == kid && (typ == "at+jwt" || typ == "application/at+jwt")
}

func plainClaims(data []byte) bool {
	m, ok := plainObject(data, claimNames)
	if !ok {
		return false
	}
	for _, n := range []string{"sub", "sid", "jti"} {
		if s, ok := jsonString(m[n]); !ok || s == "" {
			return false
		}
	}
	for _, n := range []string{"iss", "tenant", "scope"} {
		if raw, present := m[n]; present {
			if _, ok := jsonString(raw); !ok {
				return false
			}
		}
	}
	for _, n := range []string{"exp", "nbf", "iat"} {
		raw, present := m[n]
		if !present && n != "exp" {
			continue
		}
		if !present || !integerLiteral.Match(raw) {
			return false
		}
		if v, err := strconv.ParseInt(string(raw), 10, 64); err != nil || v > maxSafeInt || v < -maxSafeInt {
			return false
		}
	}
	items := 0
	if raw, present := m["aud"]; present {
		if _, ok := jsonString(raw); ok {
			items++
		} else if list, ok := jsonStrings(raw); ok {
			items += len(list)
		} else {
			return false
		}
	}
	if raw, present := m["roles"]; present {
		list, ok := jsonStrings(raw)
		if !ok {
			return false
		}
		items += len(list)
	}
	if raw, present := m["scope"]; present {
		s, _ := jsonString(raw)
		if s != "" {
			for _, tok := range strings.Split(s, " ") {
				if !validScope(tok) {
					return false
				}
				items++
			}
		}
	}
	return items <= maxListItems
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonStrings(raw json.RawMessage) ([]string, bool) {
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		s, ok := jsonString(r)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// FuzzJSONScanner: our value scanner accepts only what encoding/json
// calls valid, accepts all valid JSON in its subset (valid UTF-8, no
// surrogate escapes, nesting within the limit), and decodes strings the
// same way.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,-3e4,"x\n\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}}`, `"\\u0041"`,
		`[]`, `{}`, `-0`, `1E+2`, `"\ud800"`, "\"\xff\"", `[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]`, `{"a":1,}`, `01`,
		`"plain ascii long enough for the eight byte fast path"`, `"\"quoted\" and \\ slashes \/ here"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := bytes.Clone(data)
		s := scanner{b: buf}
		ok := s.skip(1) && s.atEnd()
		if ok && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		inSubset := json.Valid(data) && utf8.Valid(data) && !surrogateEscape.Match(data) && nesting(data) <= maxDepth-1
		if inSubset && !ok {
			t.Fatalf("rejected valid JSON %q", data)
		}
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if ok && len(trimmed) > 0 && trimmed[0] == '"' {
			var want string
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			s := scanner{b: bytes.Clone(data)}
			sp, _ := s.str()
			if got := string(s.b[sp.start:sp.end]); got != want {
				t.Fatalf("decoded %q, encoding/json %q", got, want)
			}
		}
	})
}

// FuzzBase64: b64Decode agrees with encoding/base64's strict raw URL
// decoder, except that it also refuses '\r' and '\n', which the standard
// decoder skips.
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "QQ", "QR", "QUI", "QUJD", "QQ==", "Q\nQ", "_-_-_-_-_-", "AAAAAAAAB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dst := make([]byte, len(s))
		n, ok := b64Decode(dst, s)
		if strings.ContainsAny(s, "\r\n") {
			if ok {
				t.Fatalf("accepted %q", s)
			}
			return
		}
		want, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if ok != (err == nil) || ok && !bytes.Equal(dst[:n], want) {
			t.Fatalf("%q: ours %q %v, stdlib %q %v", s, dst[:n], ok, want, err)
		}
	})
}
