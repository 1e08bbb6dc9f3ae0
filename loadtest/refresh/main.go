// Command refresh is the load kit's generator for what wrk cannot drive
// (scripts/loadtest.sh runs it against a loopback server):
//
//   - -mode refresh: each worker logs in once, untimed, then refreshes in a
//     loop with the newest refresh token (rotation kills the old one);
//   - -mode login: logins with the right password (successes are not
//     throttled);
//   - -mode login-wrong: logins with a wrong password, to see the throttle
//     (429 after 5 failures per account) at work.
//
// Every loop stops at -duration or after -max requests. It prints one line:
//
//	LOADTEST_ROW|name|req/s|p50 ms|p99 ms|non-2xx|transport errors|codes
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "", "server base URL, e.g. http://127.0.0.1:8080 (loopback only)")
	password := flag.String("password", os.Getenv("LT_ADMIN_PASSWORD"), "admin password (default $LT_ADMIN_PASSWORD)")
	mode := flag.String("mode", "refresh", "refresh, login or login-wrong")
	workers := flag.Int("workers", 16, "concurrent workers")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	name := flag.String("name", "", "row label (default: the endpoint)")
	limit := flag.Int("max", 2_000_000, "stop after this many timed requests even before -duration")
	flag.Parse()
	if !strings.HasPrefix(*base, "http://127.") && !strings.HasPrefix(*base, "http://localhost:") {
		fail("-url must be a loopback http:// address, got %q", *base)
	}
	if *password == "" {
		fail("-password (or LT_ADMIN_PASSWORD) is required")
	}
	if *name == "" {
		*name = map[string]string{"refresh": "POST /auth/refresh", "login": "POST /auth/login (right password)",
			"login-wrong": "POST /auth/login (wrong password)"}[*mode]
	}
	g := &gen{base: *base, password: *password, limit: *limit, codes: map[int]int{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}}

	var work func(refresh string, stop time.Time)
	refreshTokens := make([]string, *workers)
	switch *mode {
	case "refresh":
		// Log in first, untimed: the hash queue is not what is measured.
		for i := range refreshTokens {
			p, code, err := g.login(*password)
			if err != nil || code != http.StatusOK {
				fail("login for worker %d: status %d, %v", i, code, err)
			}
			refreshTokens[i] = p.RefreshToken
		}
		work = g.refreshLoop
	case "login":
		work = func(_ string, stop time.Time) { g.loginLoop(*password, stop) }
	case "login-wrong":
		work = func(_ string, stop time.Time) { g.loginLoop(*password+"-wrong", stop) }
	default:
		fail("-mode must be refresh, login or login-wrong")
	}

	start := time.Now()
	stop := start.Add(*duration)
	var wg sync.WaitGroup
	for i := range *workers {
		wg.Go(func() { work(refreshTokens[i], stop) })
	}
	wg.Wait()
	g.report(*name, time.Since(start))
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

type gen struct {
	base, password string
	client         *http.Client
	limit          int

	mu      sync.Mutex
	lat     []time.Duration
	codes   map[int]int
	errs    int
	relogin int
}

// post sends a JSON body and returns the status and the decoded pair (on 200).
func (g *gen) post(path string, body any) (pair, int, error) {
	b, _ := json.Marshal(body)
	resp, err := g.client.Post(g.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return pair{}, 0, err
	}
	defer resp.Body.Close()
	var p pair
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&p)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return p, resp.StatusCode, err
}

func (g *gen) login(password string) (pair, int, error) {
	return g.post("/auth/login", map[string]string{"username": "admin", "password": password})
}

// more reports whether a worker may send another timed request.
func (g *gen) more(stop time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.lat) < g.limit && time.Now().Before(stop)
}

// record keeps one timed request.
func (g *gen) record(d time.Duration, code int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lat = append(g.lat, d)
	if err != nil && code == 0 {
		g.errs++
		return
	}
	g.codes[code]++
}

func (g *gen) refreshLoop(rt string, stop time.Time) {
	for g.more(stop) {
		t0 := time.Now()
		p, code, err := g.post("/auth/refresh", map[string]string{"refresh_token": rt})
		g.record(time.Since(t0), code, err)
		if code == http.StatusOK && err == nil {
			rt = p.RefreshToken
			continue
		}
		// The session is lost (it should not be): start another, untimed.
		g.mu.Lock()
		g.relogin++
		g.mu.Unlock()
		p, code, err = g.login(g.password)
		if code != http.StatusOK || err != nil {
			return
		}
		rt = p.RefreshToken
	}
}

func (g *gen) loginLoop(password string, stop time.Time) {
	for g.more(stop) {
		t0 := time.Now()
		_, code, err := g.login(password)
		g.record(time.Since(t0), code, err)
	}
}

func (g *gen) report(name string, elapsed time.Duration) {
	slices.Sort(g.lat)
	pct := func(q float64) float64 {
		if len(g.lat) == 0 {
			return 0
		}
		i := max(0, int(math.Ceil(q*float64(len(g.lat))))-1)
		return float64(g.lat[i].Microseconds()) / 1000
	}
	non2xx := 0
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(g.codes)) {
		if c < 200 || c > 299 {
			non2xx += g.codes[c]
		}
		codes = append(codes, fmt.Sprintf("%d:%d", c, g.codes[c]))
	}
	if n := len(g.lat); n > 0 && g.codes[http.StatusTooManyRequests] > 0 {
		codes = append(codes, fmt.Sprintf("(429 share %.1f%%)", 100*float64(g.codes[http.StatusTooManyRequests])/float64(n)))
	}
	if g.relogin > 0 {
		codes = append(codes, fmt.Sprintf("(sessions lost: %d)", g.relogin))
	}
	fmt.Printf("LOADTEST_ROW|%s|%.0f|%.3f|%.3f|%d|%d|%s\n", name, float64(len(g.lat))/elapsed.Seconds(),
		pct(0.50), pct(0.99), non2xx, g.errs, strings.Join(codes, " "))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "refresh: "+format+"\n", args...)
	os.Exit(1)
}
