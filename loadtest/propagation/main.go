// Command propagation measures how long a single-session revocation made on
// one instance takes to reach another instance sharing the Redis
// (scripts/loadtest.sh runs it against two loopback servers).
//
// Each sample: log in on -b, GET /auth/me on -b (200: B holds the session),
// POST /auth/logout on -a (204), check -a answers 401 at once, then poll
// GET /auth/me on -b every -interval until 401, giving up after -timeout.
// The delay runs from the moment A's 204 arrived.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	a := flag.String("a", "", "instance A base URL (revokes), loopback only")
	b := flag.String("b", "", "instance B base URL (logs in, is polled), loopback only")
	password := flag.String("password", os.Getenv("LT_ADMIN_PASSWORD"), "admin password (default $LT_ADMIN_PASSWORD)")
	n := flag.Int("n", 50, "samples")
	parallel := flag.Int("parallel", 10, "samples at once")
	timeout := flag.Duration("timeout", 5*time.Second, "give up on a sample after this long")
	interval := flag.Duration("interval", 5*time.Millisecond, "poll interval on B")
	flag.Parse()
	for _, u := range []string{*a, *b} {
		if !strings.HasPrefix(u, "http://127.") && !strings.HasPrefix(u, "http://localhost:") {
			fail("-a and -b must be loopback http:// addresses, got %q", u)
		}
	}
	if *password == "" {
		fail("-password (or LT_ADMIN_PASSWORD) is required")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *parallel}}
	p := prober{client: client, a: *a, b: *b, password: *password, timeout: *timeout, interval: *interval}

	results := make([]sample, *n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *parallel {
		wg.Go(func() {
			for i := range jobs {
				results[i] = p.sample()
			}
		})
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	var delays []time.Duration
	var lost, broken, aLate int
	var problems []string
	for _, r := range results {
		switch {
		case r.err != "":
			broken++
			if len(problems) < 5 {
				problems = append(problems, r.err)
			}
		case r.propagated:
			delays = append(delays, r.delay)
		default:
			lost++
		}
		if r.aStatus != 0 && r.aStatus != http.StatusUnauthorized {
			aLate++
		}
	}
	fmt.Printf("samples: %d; propagated to B: %d; not propagated within %v: %d; sample errors: %d\n",
		*n, len(delays), *timeout, lost, broken)
	for _, e := range problems {
		fmt.Printf("  sample error: %s\n", e)
	}
	if aLate > 0 {
		fmt.Printf("  WARNING: A itself did not answer 401 right after its own revocation in %d samples\n", aLate)
	}
	if len(delays) > 0 {
		slices.Sort(delays)
		pct := func(q float64) time.Duration { return delays[max(0, int(math.Ceil(q*float64(len(delays))))-1)] }
		fmt.Printf("delay A revoke -> B 401 (propagated samples): p50 %v  p99 %v  max %v\n",
			pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), delays[len(delays)-1].Round(time.Microsecond))
	}
	if lost > 0 {
		fmt.Printf("not propagated within %v: %d of %d samples (B kept answering 200 for a session revoked on A)\n", *timeout, lost, *n)
	}
}

type prober struct {
	client            *http.Client
	a, b, password    string
	timeout, interval time.Duration
}

type sample struct {
	propagated bool
	delay      time.Duration
	aStatus    int
	err        string
}

func (p prober) sample() sample {
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": p.password})
	code, resp, err := p.do(http.MethodPost, p.b+"/auth/login", "", bytes.NewReader(body))
	if err != nil || code != http.StatusOK {
		return sample{err: fmt.Sprintf("login on B: status %d %v", code, err)}
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp, &pair); err != nil || pair.AccessToken == "" {
		return sample{err: fmt.Sprintf("login on B: bad answer: %v", err)}
	}
	tok := pair.AccessToken
	if code, _, err := p.do(http.MethodGet, p.b+"/auth/me", tok, nil); code != http.StatusOK {
		return sample{err: fmt.Sprintf("GET /auth/me on B before revoking: status %d %v", code, err)}
	}
	if code, _, err := p.do(http.MethodPost, p.a+"/auth/logout", tok, nil); code != http.StatusNoContent {
		return sample{err: fmt.Sprintf("logout on A: status %d %v", code, err)}
	}
	revoked := time.Now()
	var s sample
	s.aStatus, _, _ = p.do(http.MethodGet, p.a+"/auth/me", tok, nil)
	for time.Since(revoked) < p.timeout {
		code, _, err := p.do(http.MethodGet, p.b+"/auth/me", tok, nil)
		switch {
		case code == http.StatusUnauthorized:
			s.propagated, s.delay = true, time.Since(revoked)
			return s
		case code != http.StatusOK:
			s.err = fmt.Sprintf("polling B: status %d %v", code, err)
			return s
		}
		time.Sleep(p.interval)
	}
	return s
}

// do sends one request with an optional bearer token and returns the
// status and body.
func (p prober) do(method, url, bearer string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "propagation: "+format+"\n", args...)
	os.Exit(1)
}
