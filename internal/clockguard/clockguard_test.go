package clockguard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
)

var ctx = context.Background()

func fixed(offsets ...time.Duration) Measure {
	i := 0
	return func(context.Context) (time.Duration, error) {
		if i >= len(offsets) {
			return 0, errors.New("unreachable")
		}
		i++
		return offsets[i-1], nil
	}
}

func TestVerdicts(t *testing.T) {
	const tol = 500 * time.Millisecond
	for _, tc := range []struct {
		name    string
		offsets []time.Duration // measured in turn; one more Check fails to measure
		skewed  bool
	}{
		{"in sync", []time.Duration{0}, false},
		{"at the tolerance", []time.Duration{tol}, false},
		{"behind at the tolerance", []time.Duration{-tol}, false},
		{"2s ahead of Redis", []time.Duration{-2 * time.Second}, true},
		{"2s behind Redis", []time.Duration{2 * time.Second}, true},
		{"recovers", []time.Duration{2 * time.Second, 10 * time.Millisecond}, false},
		{"goes wrong", []time.Duration{10 * time.Millisecond, tol + time.Millisecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var seen []time.Duration
			g, err := New(fixed(tc.offsets...), tol, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
				WithObserver(func(d time.Duration) { seen = append(seen, d) }))
			if err != nil {
				t.Fatal(err)
			}
			if g.Err() == nil {
				t.Fatal("ready before any measurement")
			}
			for range tc.offsets {
				if err := g.Check(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// A failed measurement keeps the verdict.
			if err := g.Check(ctx); err == nil {
				t.Fatal("a failed measurement reported no error")
			}
			err = g.Err()
			if got := errors.Is(err, ErrSkew); got != tc.skewed {
				t.Fatalf("Err() = %v, skewed want %v", err, tc.skewed)
			}
			if !tc.skewed && err != nil {
				t.Fatalf("Err() = %v, want nil", err)
			}
			if len(seen) != len(tc.offsets) || g.Offset() != tc.offsets[len(tc.offsets)-1] {
				t.Errorf("observed %v, offset %v; measured %v", seen, g.Offset(), tc.offsets)
			}
			if tc.skewed && !strings.Contains(logs.String(), "CLOCK_SKEW_TOLERANCE") {
				t.Errorf("the log does not say why: %s", logs.String())
			}
		})
	}
}

// TestRedisSkewCaught: against a real Redis (and every master of a real
// Cluster), a clock 2 s off either way is caught and an accurate one is
// not.
func TestRedisSkewCaught(t *testing.T) {
	clients := map[string]redis.UniversalClient{
		"single": redis.NewClient(&redis.Options{Addr: testredis.Addr(t)}),
	}
	if addrs := testredis.Cluster(t); len(addrs) > 0 {
		clients["cluster"] = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	}
	for name, c := range clients {
		t.Cleanup(func() { c.Close() })
		for _, skew := range []time.Duration{0, 2 * time.Second, -2 * time.Second} {
			t.Run(name+"/"+skew.String(), func(t *testing.T) {
				now := func() time.Time { return time.Now().Add(skew) }
				g, err := New(Redis(c, now), 500*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if err := g.Check(ctx); err != nil {
					t.Fatal(err)
				}
				if caught := errors.Is(g.Err(), ErrSkew); caught != (skew != 0) {
					t.Errorf("skew %v: Err() = %v (offset %v)", skew, g.Err(), g.Offset())
				}
			})
		}
	}
}
