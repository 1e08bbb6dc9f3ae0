// Package gcfloor keeps the garbage collector's heap goal at or above a
// floor.
//
// With GOGC=100 the next collection starts when the heap has doubled
// since the last one's live heap, with a minimum of about 4 MB. A server
// whose live heap is a few megabytes and which allocates a few kilobytes
// per request (net/http alone does) collects twenty times a second at
// 30,000 requests a second, and every cycle's fixed costs (stacks of
// every connection's goroutines, write barriers, assists) land on the
// request path. A floor of, say, 64 MiB makes those cycles rare while the
// heap is small; once the live heap is large enough that GOGC's own goal
// is above the floor, GOGC decides alone. The memory this costs is
// bounded by the floor.
//
// It works as GOGC tuners do: after every cycle (runtime.AddCleanup on an unreachable sentinel) it reads the
// live heap (runtime/metrics) and sets GOGC (debug.SetGCPercent) so that
// the next goal is max(floor, what the base GOGC gives).
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// maxPercent bounds GOGC: a nearly empty heap must not make it unbounded.
const maxPercent = 100_000

// Percent is the GOGC that makes the heap goal after a live heap of live
// bytes at least floor, and never less than base.
func Percent(live, floor uint64, base int) int {
	live = max(live, 1)
	if base < 0 || live > math.MaxUint64/uint64(100+base) || floor <= live*uint64(100+base)/100 {
		return base // GOGC's own goal reaches the floor (or is beyond counting)
	}
	return int(min((floor-live)*100/live, maxPercent))
}

// tuner is the running floor; one per process (GOGC is process-wide).
type tuner struct {
	floor uint64
	base  int

	mu      sync.Mutex
	stopped bool
	percent int
	sample  []metrics.Sample
}

var (
	running atomic.Bool
	active  atomic.Pointer[tuner] // for tests
)

// Start sets the floor, in bytes, until stop is called, which puts GOGC
// back as it was. ok is false (and stop does nothing) when a floor is
// already running in this process or floor is 0.
func Start(floor uint64) (stop func(), ok bool) {
	if floor == 0 || !running.CompareAndSwap(false, true) {
		return func() {}, false
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 { // GOGC=off: nothing to raise
		running.Store(false)
		return func() {}, false
	}
	t := &tuner{floor: floor, base: base, percent: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.adjust()
	t.arm()
	active.Store(t)
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.stopped = true
			debug.SetGCPercent(t.base)
			t.mu.Unlock()
			running.Store(false)
		})
	}, true
}

// current reports the GOGC the floor last set.
func (t *tuner) current() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// sentinel is allocated for each cycle; its cleanup runs after a
// collection found it unreachable. It holds a pointer so that it is not
// batched with other tiny objects, which would delay its cleanup.
type sentinel struct{ _ *int }

func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets GOGC for the live heap just measured; false once stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return false // not this runtime's metric: leave GOGC alone
	}
	if p := Percent(t.sample[0].Value.Uint64(), t.floor, t.base); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}
