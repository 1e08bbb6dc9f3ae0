// Package codec is how the session backends write a Session's fields in
// compact form: times as int64 Unix nanoseconds (exact to the nanosecond,
// unlike float scores or milliseconds) and string lists as one
// length-prefixed string that round-trips any content.
package codec

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// The instants that Unix nanoseconds in an int64 can hold. Outside them
// time.Time.UnixNano is undefined, so backends refuse such times.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Nanos returns t as Unix nanoseconds, or false when t (for example the
// zero time.Time) cannot be represented.
func Nanos(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// Time is the inverse of Nanos, in UTC.
func Time(n int64) time.Time { return time.Unix(0, n).UTC() }

// ErrList reports a malformed encoded list.
var ErrList = errors.New("malformed string list")

// EncodeList writes list as "<len>:<bytes>" items back to back, so any
// string, including an empty one or one holding the separator, survives.
// An empty or nil list encodes as "".
func EncodeList(list []string) string {
	n := 0
	for _, s := range list {
		n += len(s) + 4
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range list {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

// DecodeList is the inverse of EncodeList; "" decodes to nil.
func DecodeList(enc string) ([]string, error) {
	if enc == "" {
		return nil, nil
	}
	var out []string
	for len(enc) > 0 {
		colon := strings.IndexByte(enc, ':')
		if colon <= 0 || colon > 10 {
			return nil, ErrList
		}
		n, err := strconv.Atoi(enc[:colon])
		// Canonical lengths only: no sign, no leading zero, so every list
		// has exactly one encoding.
		if err != nil || n < 0 || enc[0] == '+' || enc[0] == '-' || (enc[0] == '0' && colon > 1) || n > len(enc)-colon-1 {
			return nil, ErrList
		}
		out = append(out, enc[colon+1:colon+1+n])
		enc = enc[colon+1+n:]
	}
	return out, nil
}
