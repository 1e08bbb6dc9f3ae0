package testredis

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// LoseReply starts a TCP proxy to the Redis at target that loses one
// reply: the first command whose bytes contain trigger (a script's SHA1,
// say) is forwarded to Redis, and as soon as Redis answers, that
// connection is cut before the answer is relayed. The command has run;
// the client only sees a dropped connection (as after a network failure, a
// failover or a read timeout), and go-redis, whose default is to retry,
// sends it again on a new connection. Everything else passes through.
//
// It returns the proxy's address and a function that reports how many
// replies it has lost (0 or 1). The proxy stops when the test ends.
func LoseReply(t testing.TB, target string, trigger []byte) (addr string, lost func() int) {
	t.Helper()
	p := startProxy(t, target, trigger, loseReply)
	return p.addr, func() int { return int(p.lost.Load()) }
}

// Die starts a TCP proxy to the Redis at target through which a client
// process "dies" at one step: everything passes through until the first
// command whose bytes contain trigger (a script's SHA1, say). Then, if ran
// is false, that command is not relayed; if ran is true, it is relayed and
// runs, and its reply is lost. Either way every connection through the
// proxy is cut and no new one is accepted, as when the client's process is
// SIGKILLed at that instant: nothing it sends afterwards reaches Redis.
//
// Scripts must be loaded (SCRIPT LOAD) beforehand, so that the trigger
// travels in the EVALSHA that runs the script.
//
// It returns the proxy's address and a function that reports whether the
// client died. The proxy stops when the test ends.
func Die(t testing.TB, target string, trigger []byte, ran bool) (addr string, died func() bool) {
	t.Helper()
	mode := dieBefore
	if ran {
		mode = dieAfter
	}
	p := startProxy(t, target, trigger, mode)
	return p.addr, p.dead.Load
}

// What a proxy does at the first command that contains its trigger.
type proxyMode uint8

const (
	loseReply proxyMode = iota // relay it, lose its reply, cut its connection
	dieBefore                  // relay nothing more, cut every connection
	dieAfter                   // relay it, lose its reply, cut every connection
)

type proxy struct {
	addr  string
	l     net.Listener
	mode  proxyMode
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
	fired atomic.Bool  // the trigger was seen
	dead  atomic.Bool  // every connection cut, none accepted (Die)
	lost  atomic.Int32 // replies lost
}

func startProxy(t testing.TB, target string, trigger []byte, mode proxyMode) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), l: l, mode: mode}
	t.Cleanup(func() { p.kill(); p.wg.Wait() })
	p.wg.Go(func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client, server) {
				client.Close()
				server.Close()
				return
			}
			var doomed atomic.Bool // this connection carries the command whose reply is lost
			p.wg.Go(func() {       // client → Redis
				defer server.Close()
				p.relay(server, client, func(chunk []byte) bool {
					if !bytes.Contains(chunk, trigger) || !p.fired.CompareAndSwap(false, true) {
						return true
					}
					if p.mode == dieBefore {
						p.kill()
						return false
					}
					doomed.Store(true) // before Redis can answer
					return true
				})
			})
			p.wg.Go(func() { // Redis → client
				defer client.Close()
				p.relay(client, server, func([]byte) bool {
					if !doomed.Load() {
						return true
					}
					// Redis has run the command and answered: drop the
					// answer and the connection (every one, for Die).
					p.lost.Add(1)
					server.Close()
					if p.mode == dieAfter {
						p.kill()
					}
					return false
				})
			})
		}
	})
	return p
}

// relay copies src to dst while pass allows each chunk, and the proxy is
// alive.
func (p *proxy) relay(dst, src net.Conn, pass func([]byte) bool) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.dead.Load() || !pass(buf[:n]) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// track records connections to cut at the end; false once the proxy died.
func (p *proxy) track(c ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c...)
	return !p.dead.Load()
}

// kill stops accepting and cuts every connection.
func (p *proxy) kill() {
	if !p.dead.CompareAndSwap(false, true) {
		return
	}
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}
