// Package flight makes concurrent loads of one key share one backend
// read: the stores use it on a cache miss, so a burst of requests for a
// session or key the instance does not hold costs one Redis round trip.
package flight

import (
	"context"
	"sync"
)

// Group deduplicates concurrent calls by key. The zero value is ready.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// Do runs load once for all concurrent callers with the same key and
// gives each its result. A caller whose ctx ends first stops waiting and
// gets ctx's error; the load goes on for the others.
func (g *Group[K, V]) Do(ctx context.Context, key K, load func() (V, error)) (V, error) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	if g.calls == nil {
		g.calls = make(map[K]*call[V])
	}
	c := &call[V]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = load()
	return c.v, c.err
}
