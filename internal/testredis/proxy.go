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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		wg     sync.WaitGroup
		fired  atomic.Bool
		nLost  atomic.Int32
		closed bool
	)
	track := func(c ...net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c...)
		return !closed
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
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
			var doomed atomic.Bool // this connection carries the command whose reply is lost
			wg.Go(func() {         // client → Redis
				defer server.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						if bytes.Contains(buf[:n], trigger) && fired.CompareAndSwap(false, true) {
							doomed.Store(true) // before Redis can answer
						}
						if _, werr := server.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
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
						// Redis has run the command and answered: drop
						// the answer and the connection.
						nLost.Add(1)
						server.Close()
						return
					}
					if n > 0 {
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String(), func() int { return int(nLost.Load()) }
}
