package testredis

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		dead  atomic.Bool
		wg    sync.WaitGroup
	)
	kill := func() {
		if !dead.CompareAndSwap(false, true) {
			return
		}
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	track := func(c ...net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c...)
		return !dead.Load()
	}
	t.Cleanup(func() { kill(); wg.Wait() })
	wg.Go(func() {
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
			if !track(client, server) {
				client.Close()
				server.Close()
				return
			}
			var doomed atomic.Bool // carries the command whose reply is lost
			wg.Go(func() {         // client → Redis
				defer server.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 && !dead.Load() {
						if bytes.Contains(buf[:n], trigger) {
							if !ran {
								kill()
								return
							}
							doomed.Store(true)
						}
						if _, werr := server.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil || dead.Load() {
						return
					}
				}
			})
			wg.Go(func() { // Redis → client
				defer client.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 && doomed.Load() {
						kill() // Redis ran it and answered: the answer is lost
						return
					}
					if n > 0 && !dead.Load() {
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil || dead.Load() {
						return
					}
				}
			})
		}
	})
	return l.Addr().String(), dead.Load
}
