// Command chaos runs three instances on one Redis, all on loopback, puts
// load on all of them, fires revocations of sessions, subjects, tenants and
// API keys at random instances while instances are SIGKILLed and restarted
// and Redis itself is SIGKILLed and restarted (from its AOF), and checks
// every answer (check.go): revoked credentials answered 200 after the SLA
// (must be 0), acknowledged sessions and keys lost, 5xx counts and the
// instances' recovery times. `make chaos` runs it; it is bounded by
// -duration and stops every process it started.
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "the relayauth binary (required)")
	redisBin := flag.String("redis-server", "redis-server", "the redis-server binary")
	duration := flag.Duration("duration", 60*time.Second, "how long the chaos lasts")
	n := flag.Int("instances", 3, "instances on the one Redis")
	sla := flag.Duration("sla", 2*time.Second, "REVOCATION_SLA of every instance, and the checker's")
	workers := flag.Int("workers", 16, "probing workers")
	killEvery := flag.Duration("kill-every", 5*time.Second, "how often an instance is SIGKILLed (restarted after -down)")
	down := flag.Duration("down", time.Second, "how long a killed instance stays down")
	redisDown := flag.Duration("redis-down", 5*time.Second, "how long the Redis primary stays down, once, halfway (with -sentinel, long enough for the failover)")
	sentinel := flag.Bool("sentinel", false, "run Redis as a Sentinel set (a primary, a replica, one sentinel): the primary's SIGKILL is a failover")
	flag.Parse()
	if *bin == "" {
		fail("-bin is required")
	}
	dir, err := os.MkdirTemp("", "relayauth-chaos-")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(dir)
	r := &run{sla: *sla, client: &http.Client{Timeout: 3 * time.Second}}
	defer r.stopAll()
	stopAll = func() { r.stopAll(); os.RemoveAll(dir) }

	server := func(name string, port int, extra ...string) *proc {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o700)
		p := &proc{name: name, dir: d, cmd: func() *exec.Cmd {
			return exec.Command(*redisBin, append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", d,
				"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
				"--logfile", filepath.Join(d, "redis.log")}, extra...)...)
		}}
		p.start()
		waitTCP(fmt.Sprintf("127.0.0.1:%d", port))
		return p
	}
	redisPort := freePort()
	r.redis = server("redis", redisPort)
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort)
	if *sentinel {
		replica := freePort()
		r.others = append(r.others, server("replica", replica, "--replicaof", "127.0.0.1", strconv.Itoa(redisPort)))
		sport := freePort()
		conf := filepath.Join(dir, "sentinel.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\n"+
			"sentinel monitor relay 127.0.0.1 %d 1\nsentinel down-after-milliseconds relay 1000\n"+
			"sentinel failover-timeout relay 5000\n", sport, dir, redisPort)), 0o600)
		s := &proc{name: "sentinel", dir: dir, cmd: func() *exec.Cmd {
			return exec.Command(*redisBin, conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
		}}
		s.start()
		waitTCP(fmt.Sprintf("127.0.0.1:%d", sport))
		r.others = append(r.others, s)
		redisURL = fmt.Sprintf("redis-sentinel://127.0.0.1:%d/relay", sport)
		r.sentinelAddr = fmt.Sprintf("127.0.0.1:%d", sport)
		time.Sleep(2 * time.Second) // the sentinel finds the replica
	}

	key := make([]byte, 32)
	crand.Read(key)
	pw := base64.RawURLEncoding.EncodeToString(key[:18])
	env := append(os.Environ(), "RELAY_ENV=development", "RELAY_DEBUG=false", "RELAY_DEMO_MOCKS=false",
		"RELAY_MOCK_SIGNING=false", "AUTH_SIGNING_METRICS_ENABLED=false", "API_KEYS_FILE=",
		"SESSION_STORE_BACKEND=redis", "REDIS_URL="+redisURL,
		"JWT_SIGNING_KEY="+base64.StdEncoding.EncodeToString(key), "ADMIN_PASSWORD="+pw,
		"ACCESS_TOKEN_TTL=30m", "REVOCATION_SLA="+sla.String())
	for i := range *n {
		port := freePort()
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		log := filepath.Join(dir, fmt.Sprintf("instance-%d.log", i))
		p := &proc{name: fmt.Sprintf("instance %d", i), dir: dir, cmd: func() *exec.Cmd {
			c := exec.Command(*bin, "serve")
			c.Env = append(slices.Clone(env), fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", port))
			f, _ := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			c.Stdout, c.Stderr = f, f
			return c
		}}
		r.instances = append(r.instances, &instance{proc: p, url: url})
		p.start()
	}
	for _, in := range r.instances {
		if !r.waitReady(in, 20*time.Second) {
			fail("%s did not become ready", in.name)
		}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st := r.call(r.instances[0], "POST", "/auth/login", "", map[string]string{"username": "admin", "password": pw}, &tok); st != 200 {
		fail("admin login: %d", st)
	}
	r.admin = "Bearer " + tok.AccessToken

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, in := range r.instances {
		wg.Go(func() { in.supervise(ctx) })
	}
	wg.Go(func() { r.create(ctx) })
	for range *workers {
		wg.Go(func() { r.probe(ctx) })
	}
	wg.Go(func() { r.revoke(ctx) })
	wg.Go(func() { r.kill(ctx, *killEvery, *down) })
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(*duration / 2):
		}
		r.redis.kill()
		killed := time.Now()
		r.event("Redis primary SIGKILLed")
		var back sync.WaitGroup
		back.Go(func() {
			// Not ready (Redis gone) first, then every instance ready again.
			for ctx.Err() == nil && time.Since(killed) < 3*time.Second && r.readyCount() == len(r.instances) {
				time.Sleep(20 * time.Millisecond)
			}
			if d, ok := r.allReady(ctx); ok {
				r.event(fmt.Sprintf("every instance ready %v after the primary's SIGKILL", d.Sub(killed).Round(time.Millisecond)))
			}
		})
		time.Sleep(*redisDown)
		r.redis.start()
		if *sentinel {
			r.event("old primary restarted (the sentinel makes it a replica)")
		} else {
			r.event("Redis restarted from its AOF")
		}
		back.Wait()
		if *sentinel {
			r.event(fmt.Sprintf("the sentinel names %s as primary (was 127.0.0.1:%d)", sentinelPrimary(r.sentinelAddr), redisPort))
		}
	})
	wg.Wait()

	r.mu.Lock()
	defer r.mu.Unlock()
	creds := make([]credential, len(r.creds))
	for i, c := range r.creds {
		creds[i] = c.credential
	}
	rep := check(creds, r.answers, *sla)
	kinds := map[string]int{}
	revoked := 0
	for _, c := range creds {
		kinds[c.kind]++
		if !c.revoked.IsZero() {
			revoked++
		}
	}
	setup := "one Redis (AOF, appendfsync always)"
	if *sentinel {
		setup = "a Sentinel set (primary, replica, one sentinel)"
	}
	fmt.Printf("chaos: %d instances on %s, %v, SLA %v; %d instance SIGKILLs, the Redis primary SIGKILLed once (down %v)\n",
		*n, setup, *duration, *sla, r.kills, *redisDown)
	fmt.Printf("credentials made: %v; revoked (acknowledged): %d; revocations: %v\n", kinds, revoked, r.revocations)
	fmt.Print(rep)
	slices.Sort(r.recoveries)
	if len(r.recoveries) > 0 {
		fmt.Printf("instance recovery (restart to ready): min %v, median %v, max %v over %d restarts\n",
			r.recoveries[0].Round(time.Millisecond), r.recoveries[len(r.recoveries)/2].Round(time.Millisecond),
			r.recoveries[len(r.recoveries)-1].Round(time.Millisecond), len(r.recoveries))
	}
	for _, e := range r.events {
		fmt.Println("  " + e)
	}
	if rep.revokedOK > 0 {
		r.mu.Unlock()
		stopAll()
		os.Exit(1)
	}
}

type proc struct {
	name string
	dir  string
	cmd  func() *exec.Cmd
	mu   sync.Mutex
	c    *exec.Cmd
	// exited is closed when the process started last has exited; held
	// says the run keeps it down on purpose (between a SIGKILL and the
	// restart), so supervise does not start it.
	exited chan struct{}
	held   bool
}

func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = false
	p.c = p.cmd()
	p.c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.c.Start(); err != nil {
		fail("%s: %v", p.name, err)
	}
	exited := make(chan struct{})
	p.exited = exited
	c := p.c
	go func() { c.Wait(); close(exited) }()
}

// kill SIGKILLs the process and holds it down until the next start.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
	if p.c != nil && p.c.Process != nil {
		p.c.Process.Signal(syscall.SIGKILL)
	}
}

// supervise starts the process again whenever it exits on its own (an
// instance that cannot reach Redis at start exits), as a service manager
// would, until ctx ends.
func (p *proc) supervise(ctx context.Context) {
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		time.Sleep(200 * time.Millisecond)
		p.mu.Lock()
		again := !p.held && p.exited == exited
		p.mu.Unlock()
		if again && ctx.Err() == nil {
			p.start()
		} else if !again {
			time.Sleep(50 * time.Millisecond) // held, or restarted already
		}
	}
}

type instance struct {
	*proc
	url string
}

type cred struct {
	credential
	header, value string // how it is presented
	id            string // session or key id
	subject       string
	tenant        string
}

type run struct {
	sla          time.Duration
	client       *http.Client
	redis        *proc
	others       []*proc // a Sentinel set's replica and sentinel
	sentinelAddr string
	instances    []*instance
	admin        string

	mu          sync.Mutex
	creds       []*cred
	answers     []answer
	kills       int
	recoveries  []time.Duration
	revocations map[string]int
	events      []string
	start       time.Time
}

func (r *run) event(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = time.Now()
	}
	r.events = append(r.events, fmt.Sprintf("%s %s", time.Now().Format("15:04:05.000"), s))
}

func (r *run) stopAll() {
	for _, in := range r.instances {
		in.kill()
	}
	if r.redis != nil {
		r.redis.kill()
	}
	for _, p := range r.others {
		p.kill()
	}
}

func (r *run) pick() *instance { return r.instances[rand.IntN(len(r.instances))] }

// call sends a JSON request with the given Authorization and decodes a
// 2xx body into out; it returns the status (0 without an answer).
func (r *run) call(in *instance, method, path, auth string, body, out any) int {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, in.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		json.NewDecoder(resp.Body).Decode(out)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode
}

// create makes sessions (POST /auth/tokens) and API keys on random
// instances, ten a second.
func (r *run) create(ctx context.Context) {
	i := -1
	every(ctx, 100*time.Millisecond, func() {
		i++
		tenant, subject := fmt.Sprintf("t%d", i%4), fmt.Sprintf("u%d", i%20)
		in := r.pick()
		if i%4 == 3 {
			var k struct {
				ID  string `json:"id"`
				Key string `json:"key"`
			}
			body := map[string]any{"name": fmt.Sprintf("k%d", i), "tenant": tenant, "scopes": []string{}}
			if r.call(in, "POST", "/auth/api-keys", r.admin, body, &k) == http.StatusCreated {
				r.add(&cred{credential: credential{kind: "key", created: time.Now()}, header: "X-API-Key", value: k.Key, id: k.ID, tenant: tenant})
			}
			return
		}
		var p struct {
			AccessToken string `json:"access_token"`
			SessionID   string `json:"session_id"`
		}
		body := map[string]any{"subject": subject, "tenant": tenant, "roles": []string{}, "scopes": []string{}}
		if r.call(in, "POST", "/auth/tokens", r.admin, body, &p) == http.StatusOK {
			r.add(&cred{credential: credential{kind: "session", created: time.Now()}, header: "Authorization",
				value: "Bearer " + p.AccessToken, id: p.SessionID, subject: subject, tenant: tenant})
		}
	})
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fn()
	}
}

func (r *run) add(c *cred) {
	r.mu.Lock()
	r.creds = append(r.creds, c)
	r.mu.Unlock()
}

// probe presents random credentials to random instances and records every
// answer.
func (r *run) probe(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		if len(r.creds) == 0 {
			r.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		i := rand.IntN(len(r.creds))
		c := r.creds[i]
		r.mu.Unlock()
		in := rand.IntN(len(r.instances))
		req, _ := http.NewRequest("GET", r.instances[in].url+"/auth/me", nil)
		req.Header.Set(c.header, c.value)
		start := time.Now()
		status := 0
		if resp, err := r.client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		} else {
			time.Sleep(5 * time.Millisecond) // an instance that is down
		}
		r.mu.Lock()
		r.answers = append(r.answers, answer{cred: i, instance: in, start: start, end: time.Now(), status: status})
		r.mu.Unlock()
	}
}

// revoke fires a revocation of a session, a subject, a tenant or an API
// key at a random instance every 250ms. An acknowledged one marks what it
// covers revoked at the acknowledgement; one without an answer, and the
// credentials whose creation was acknowledged while it was in flight,
// pending.
func (r *run) revoke(ctx context.Context) {
	every(ctx, 250*time.Millisecond, func() {
		r.mu.Lock()
		var live []*cred
		for _, c := range r.creds {
			if c.revoked.IsZero() && c.pending.IsZero() {
				live = append(live, c)
			}
		}
		r.mu.Unlock()
		if len(live) == 0 {
			return
		}
		target := live[rand.IntN(len(live))]
		what := []string{"session", "subject", "tenant"}[rand.IntN(3)]
		if target.kind == "key" {
			what = "key"
		}
		covers := func(c *cred) bool {
			switch what {
			case "session", "key":
				return c == target
			case "subject":
				return c.kind == "session" && c.tenant == target.tenant && c.subject == target.subject
			}
			return c.kind == "session" && c.tenant == target.tenant
		}
		in := r.pick()
		sent := time.Now()
		var status int
		switch what {
		case "session":
			status = r.call(in, "DELETE", "/auth/sessions/"+target.id, r.admin, nil, nil)
		case "key":
			status = r.call(in, "DELETE", "/auth/api-keys/"+target.id, r.admin, nil, nil)
		case "subject":
			status = r.call(in, "POST", "/auth/sessions/revoke", r.admin, map[string]string{"tenant": target.tenant, "subject": target.subject}, nil)
		case "tenant":
			status = r.call(in, "POST", "/auth/sessions/revoke", r.admin, map[string]string{"tenant": target.tenant}, nil)
		}
		acked := time.Now()
		r.mu.Lock()
		if r.revocations == nil {
			r.revocations = map[string]int{}
		}
		ok := status/100 == 2
		if ok {
			r.revocations[what]++
		} else {
			r.revocations[what+" unacknowledged"]++
		}
		for _, c := range r.creds {
			switch {
			case !covers(c) || !c.revoked.IsZero():
			case ok && c.created.Before(sent):
				c.revoked = acked
			case c.created.Before(acked) && c.pending.IsZero():
				c.pending = sent
			}
		}
		r.mu.Unlock()
	})
}

// kill SIGKILLs a random instance every interval, restarts it after down,
// and records how long it took to be ready again.
func (r *run) kill(ctx context.Context, interval, down time.Duration) {
	every(ctx, interval, func() {
		in := r.pick()
		in.kill()
		r.mu.Lock()
		r.kills++
		r.mu.Unlock()
		r.event(in.name + " SIGKILLed")
		time.Sleep(down)
		start := time.Now()
		in.start()
		if r.waitReady(in, 30*time.Second) {
			r.mu.Lock()
			r.recoveries = append(r.recoveries, time.Since(start))
			r.mu.Unlock()
		}
	})
}

// allReady waits until every instance answers /readyz 200 at once, and
// says when.
func (r *run) allReady(ctx context.Context) (time.Time, bool) {
	for ctx.Err() == nil {
		if r.readyCount() == len(r.instances) {
			return time.Now(), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, false
}

func (r *run) readyCount() int {
	ready := 0
	for _, in := range r.instances {
		if r.call(in, "GET", "/readyz", "", nil, nil) == http.StatusOK {
			ready++
		}
	}
	return ready
}

func (r *run) waitReady(in *instance, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r.call(in, "GET", "/readyz", "", nil, nil) == http.StatusOK {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// sentinelPrimary asks the sentinel at addr which server is the primary.
func sentinelPrimary(addr string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "(sentinel unreachable)"
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprint(c, "*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$5\r\nrelay\r\n")
	buf := make([]byte, 256)
	n, _ := c.Read(buf)
	// *2 $9 127.0.0.1 $5 port
	var parts []string
	for _, f := range bytes.Split(buf[:n], []byte("\r\n")) {
		if len(f) > 0 && f[0] != '*' && f[0] != '$' {
			parts = append(parts, string(f))
		}
	}
	if len(parts) != 2 {
		return fmt.Sprintf("(unexpected answer %q)", buf[:n])
	}
	return parts[0] + ":" + parts[1]
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(addr string) {
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail("nothing listens on %s", addr)
}

// stopAll, once set, stops every process started, so fail leaves none.
var stopAll = func() {}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chaos: "+format+"\n", args...)
	stopAll()
	os.Exit(2)
}
