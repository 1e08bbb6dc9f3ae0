package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		base, want  int
	}{
		{4 * mib, 64 * mib, 100, 1500},       // goal 4 + 4*15 = 64 MiB
		{32 * mib, 64 * mib, 100, 100},       // GOGC's own goal is the floor
		{40 * mib, 64 * mib, 100, 100},       // and above it
		{16 * mib, 64 * mib, 400, 400},       // a higher base GOGC wins
		{0, 64 * mib, 100, maxPercent},       // nothing live yet: bounded
		{1, 64 * mib, 100, maxPercent},       // ditto
		{60 * mib, 64 * mib, 0, 6},           // GOGC=0 still reaches the floor
		{8 * mib, 0, 100, 100},               // no floor
		{1 << 40, 64 * mib, 100, 100},        // a huge heap
		{64*mib - 1, 64 * mib, 100, 100},     // within GOGC's goal
		{10 * mib, 10*mib + 100, 0, 0},       // rounding down stays at base
		{10 * mib, 10*mib + mib, 50, 50},     // 15 MiB goal > 11 MiB floor
		{10 * mib, 100 * mib, 50, 900},       // 10 + 90 = 100 MiB
		{3, 1 << 62, 100, maxPercent},        // no overflow
		{1 << 62, 1<<62 + 1, 100, 100},       // no overflow
		{1 << 63, 1 << 63, 100, 100},         // no overflow
		{512, 64 * mib, 100, maxPercent},     // tiny heap: bounded
		{mib, 2 * mib, 100, 100},             // exactly GOGC's goal
		{mib, 2*mib + 1, 100, 100},           // just above: rounds to 100
		{mib, 3 * mib, 100, 200},             // 1 + 2 = 3 MiB
		{2 * mib, 3 * mib, 100, 100},         // GOGC's 4 MiB > 3 MiB
		{100 * mib, 64 * mib, -1 + 101, 100}, // base as configured
	} {
		if got := Percent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.base, got, tc.want)
		}
	}
}

// After collections, a running floor has raised GOGC for this small test
// heap; stop puts it back; a second floor does not start beside the first.
func TestStartRaisesAndRestores(t *testing.T) {
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	if before != 100 {
		t.Skipf("GOGC is %d in this environment", before)
	}
	stop, ok := Start(256 << 20)
	if !ok {
		t.Fatal("the floor did not start")
	}
	defer stop()
	if _, again := Start(64 << 20); again {
		t.Fatal("a second floor started beside the first")
	}
	tu := active.Load()
	deadline := time.Now().Add(10 * time.Second)
	cycles := 0
	for tu.current() <= 100 && time.Now().Before(deadline) {
		runtime.GC()
		cycles++
		time.Sleep(10 * time.Millisecond)
	}
	if p := tu.current(); p <= 100 {
		t.Fatalf("GOGC %d after %d collections, want it raised for a heap far below 256 MiB", p, cycles)
	}
	// The tuner re-arms: a later cycle adjusts again.
	tu.mu.Lock()
	tu.percent = -2 // a value adjust never sets
	tu.mu.Unlock()
	for tu.current() == -2 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if tu.current() == -2 {
		t.Fatal("no adjustment after the first: the tuner did not re-arm")
	}
	stop()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOGC %d after stop, want 100 back", p)
	}
	stop2, ok := Start(64 << 20)
	if !ok {
		t.Error("a floor cannot start after the first stopped")
	}
	stop2()
	if s, _ := Start(0); s == nil {
		t.Error("nil stop")
	}
}
