// Command outage polls GET /auth/me with a live and a revoked access token
// while scripts/loadtest.sh kills Redis (SIGKILL) and restarts it. It runs
// for -duration, then reads the moments of the kill and of the restart
// (Unix nanoseconds, written by the script into -marks/kill and
// -marks/ready) and reports, per token, the status counts, and for the
// live token when it failed closed and how long after Redis answered again
// it got 200s back. A 200 for the revoked token is a violation: exit 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type hit struct {
	at   time.Time
	code int // 0: transport error
}

func main() {
	base := flag.String("url", "", "server base URL, loopback only")
	live := flag.String("live", os.Getenv("LT_LIVE_TOKEN"), "access token of a live session (default $LT_LIVE_TOKEN)")
	revoked := flag.String("revoked", os.Getenv("LT_REVOKED_TOKEN"), "access token of a revoked session (default $LT_REVOKED_TOKEN)")
	duration := flag.Duration("duration", 12*time.Second, "how long to poll")
	interval := flag.Duration("interval", 10*time.Millisecond, "poll interval per token")
	marks := flag.String("marks", "", "directory holding the kill and ready marks")
	flag.Parse()
	if !strings.HasPrefix(*base, "http://127.") && !strings.HasPrefix(*base, "http://localhost:") {
		fail("-url must be a loopback http:// address, got %q", *base)
	}
	if *live == "" || *revoked == "" || *marks == "" {
		fail("-live, -revoked and -marks are required")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	stop := time.Now().Add(*duration)
	var liveHits, revokedHits []hit
	var wg sync.WaitGroup
	for _, t := range []struct {
		token string
		out   *[]hit
	}{{*live, &liveHits}, {*revoked, &revokedHits}} {
		wg.Go(func() {
			for time.Now().Before(stop) {
				*t.out = append(*t.out, hit{time.Now(), get(client, *base+"/auth/me", t.token)})
				time.Sleep(*interval)
			}
		})
	}
	wg.Wait()

	kill, killOK := mark(*marks, "kill")
	ready, readyOK := mark(*marks, "ready")
	fmt.Printf("live token:    %s\n", counts(liveHits))
	fmt.Printf("revoked token: %s\n", counts(revokedHits))
	if !killOK {
		fmt.Println("no kill mark: Redis was not killed during the poll")
	} else {
		if h, ok := first(liveHits, kill, func(c int) bool { return c != http.StatusOK }); ok {
			fmt.Printf("live token: first non-200 (%d) %v after the kill\n", h.code, h.at.Sub(kill).Round(time.Millisecond))
		} else {
			fmt.Println("live token: 200 throughout (the outage was shorter than the freshness window)")
		}
		if readyOK {
			fmt.Printf("Redis down for %v (SIGKILL to PING answered)\n", ready.Sub(kill).Round(time.Millisecond))
			// The recovery is the last failure after the kill, then 200.
			var lastBad time.Time
			for _, h := range liveHits {
				if h.at.After(kill) && h.code != http.StatusOK {
					lastBad = h.at
				}
			}
			switch h, ok := first(liveHits, lastBad, func(c int) bool { return c == http.StatusOK }); {
			case lastBad.IsZero():
			case ok:
				fmt.Printf("live token: 200 again %v after Redis answered (last failure %v after it)\n",
					h.at.Sub(ready).Round(time.Millisecond), lastBad.Sub(ready).Round(time.Millisecond))
			default:
				fmt.Printf("live token: NO 200 within the poll, which ended %v after Redis answered\n", stop.Sub(ready).Round(time.Millisecond))
			}
		} else {
			fmt.Println("no ready mark: Redis did not come back during the poll")
		}
	}
	bad := 0
	for _, h := range revokedHits {
		if h.code == http.StatusOK {
			bad++
		}
	}
	if bad > 0 {
		fmt.Printf("VIOLATION: the revoked token got %d 200s\n", bad)
		os.Exit(1)
	}
	fmt.Println("revoked token: never 200")
}

func get(c *http.Client, url, token string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func counts(hits []hit) string {
	m := map[int]int{}
	for _, h := range hits {
		m[h.code]++
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s:%d", name, m[c]))
	}
	return strings.Join(parts, " ")
}

// first is the first hit after t whose code satisfies ok.
func first(hits []hit, t time.Time, ok func(int) bool) (hit, bool) {
	for _, h := range hits {
		if h.at.After(t) && ok(h.code) {
			return h, true
		}
	}
	return hit{}, false
}

func mark(dir, name string) (time.Time, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "outage: "+format+"\n", args...)
	os.Exit(1)
}
