package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentCallsShareOneLoad(t *testing.T) {
	var g Group[string, int]
	var loads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Do(context.Background(), "k", func() (int, error) {
				loads.Add(1)
				<-release
				return 42, nil
			})
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the callers pile up on the one load
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("got %d", v)
		}
	}
	// Callers that reach Do while the first load is in flight share it;
	// only one that arrived after the release (50 ms later) loads again.
	if n := loads.Load(); n < 1 || n >= 20 {
		t.Fatalf("%d loads for 20 concurrent callers", n)
	}
	// A finished key loads afresh.
	v, _ := g.Do(context.Background(), "k", func() (int, error) { return 7, nil })
	if v != 7 {
		t.Fatalf("stale result %d", v)
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	go g.Do(context.Background(), "k", func() (int, error) { <-release; return 1, nil })
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, "k", func() (int, error) { return 2, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	close(release)
}
