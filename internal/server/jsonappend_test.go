package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// encoded is what writeJSON writes for v.
func encoded(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestIntrospectionJSON: appendJSON writes what encoding/json writes,
// for a value with every field set (a field added to introspection and
// not to appendJSON fails here) and for empty and awkward ones.
func TestIntrospectionJSON(t *testing.T) {
	full := introspection{Active: true, TokenType: "access_token", Scope: "orders:read profile", Subject: "bob", Audience: []string{"a", "b"},
		Issuer: "relay", ExpiresAt: 1796508378, IssuedAt: -1, NotBefore: 1, ID: "j", SessionID: "s", Tenant: "acme", Roles: []string{"admin"}}
	for i, v := 0, reflect.ValueOf(full); i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("the full introspection leaves %s unset", v.Type().Field(i).Name)
		}
	}
	for _, x := range []introspection{
		{},
		{Active: true},
		full,
		{Active: true, Audience: []string{}, Roles: []string{""}},
		{Active: true, Subject: "<script>&\"\\\x00\x1f\x7f\b\f\n\r\t\u2028\u2029é\xff\xe2\x80"},
	} {
		got := x.appendJSON(nil)
		if want := encoded(t, x); !bytes.Equal(got, want) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzIntrospectionJSON holds appendJSON to encoding/json, byte for byte.
func FuzzIntrospectionJSON(f *testing.F) {
	f.Add(true, "access_token", "a b", "bob", "aud1,aud2", int64(1796508378), "j\u2028<", "acme", "admin,\xff")
	f.Add(false, "", "", "", "", int64(0), "", "", "")
	f.Fuzz(func(t *testing.T, active bool, typ, scope, sub, aud string, exp int64, id, tenant, roles string) {
		list := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		x := introspection{Active: active, TokenType: typ, Scope: scope, Subject: sub, Audience: list(aud), Issuer: sub + typ,
			ExpiresAt: exp, IssuedAt: -exp, NotBefore: exp / 2, ID: id, SessionID: id + tenant, Tenant: tenant, Roles: list(roles)}
		if got, want := x.appendJSON(nil), encoded(t, x); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON\n got %q\nwant %q", got, want)
		}
	})
}
