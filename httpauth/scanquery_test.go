package httpauth

import (
	"net/url"
	"strings"
	"testing"
)

// parseQueryScan is scanQuery's definition: what url.ParseQuery makes of
// the query.
func parseQueryScan(raw string) (credential, malformed bool) {
	q, err := url.ParseQuery(raw)
	for name := range q {
		for _, bad := range queryCredentialNames {
			if strings.EqualFold(name, bad) {
				credential = true
			}
		}
	}
	return credential, err != nil
}

func TestScanQuery(t *testing.T) {
	for _, tc := range []struct {
		query                 string
		credential, malformed bool
	}{
		{"", false, false},
		{"page=2&sort=name", false, false},
		{"tokens=3", false, false},
		{"access_token=x", true, false},
		{"page=2&API_KEY=x", true, false},
		{"Token=", true, false},
		{"token", true, false},
		{"x-api-key=1", true, false},
		{"x%2Dapi%2dkey=1", true, false},
		{"api+key=1&apikey=2", true, false},
		{"\u212Aey=1", true, false},          // Kelvin sign: strings.EqualFold's "key"
		{"%E2%84%AAey=1", true, false},       // the same, escaped
		{"acce\u017Fs_token=1", true, false}, // long s
		{"a=%zz", false, true},
		{"a=%zz&token=1", true, true},
		{"token=%zz", false, true}, // ParseQuery drops the field: no credential in it
		{"to%zzken=1", false, true},
		{"a=1;b=2", false, true},
		{"token=1;", false, true},
		{"&&=&", false, false},
		{"=token", false, false},
		{strings.Repeat("a", 40) + "=1", false, false},
		{strings.Repeat("&", maxQueryParams-1), false, false},
		{strings.Repeat("&", maxQueryParams) + "token=1", true, true}, // over ParseQuery's limit: still found
	} {
		credential, malformed := scanQuery(tc.query)
		if credential != tc.credential || malformed != tc.malformed {
			t.Errorf("scanQuery(%.40q) = %v, %v; want %v, %v", tc.query, credential, malformed, tc.credential, tc.malformed)
		}
		if strings.Count(tc.query, "&") < maxQueryParams {
			if c, m := parseQueryScan(tc.query); c != credential || m != malformed {
				t.Errorf("scanQuery(%.40q) = %v, %v; url.ParseQuery says %v, %v", tc.query, credential, malformed, c, m)
			}
		}
	}
}

func FuzzScanQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "access_token=x", "TOKEN", "%E2%84%AAey=1", "a=%zz&token=1",
		"token=%zz", "a;b=1", "x%2Dapi%2dkey=1", "api+key", "k%C5%BFy=1", "key%00=1", "%FFkey=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.Count(raw, "&") >= maxQueryParams {
			return
		}
		credential, malformed := scanQuery(raw)
		if c, m := parseQueryScan(raw); c != credential || m != malformed {
			t.Fatalf("scanQuery(%q) = %v, %v; url.ParseQuery says %v, %v", raw, credential, malformed, c, m)
		}
	})
}

func BenchmarkScanQuery(b *testing.B) {
	const q = "scopes=orders:read,orders:write&tenant_path=%2Ftenants%2F%7Btenant%7D"
	b.Run("scanQuery", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			scanQuery(q)
		}
	})
	b.Run("url.ParseQuery", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseQueryScan(q)
		}
	})
}
