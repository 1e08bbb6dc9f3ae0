package session_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

// TestMemoryForgetsOldEpochs: with a bounded lifetime, the epochs of
// subjects and tenants revoked more than the lifetime (plus the grace) ago
// are forgotten by Sweep, while every answer stays the same: a session the
// epoch covered stays dead (it has expired), a subject with a live session
// keeps its epoch.
func TestMemoryForgetsOldEpochs(t *testing.T) {
	ctx := context.Background()
	const life = time.Hour
	clk := newClock(at(0))
	s := session.NewMemoryStore(session.WithClock(clk.Now), session.WithMaxLifetime(life))
	defer s.Close()

	// A session made just before the revocations, for its whole lifetime.
	old := mk(t, "A", "user0", at(0), life)
	if err := s.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		if _, err := s.RevokeSubject(ctx, "A", fmt.Sprint("user", i), at(1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RevokeTenant(ctx, "B", at(1)); err != nil {
		t.Fatal(err)
	}
	// user1 logs in again after its revocation and stays logged in.
	fresh := mk(t, "A", "user1", at(120), life)
	if err := s.Create(ctx, fresh); err != nil {
		t.Fatal(err)
	}

	cut := at(1).Add(life + session.EpochGrace)
	for _, tc := range []struct {
		name              string
		now               time.Time
		subjects, tenants int // what the store still holds
		freshLive         bool
	}{
		{"within the lifetime", at(60), n, 2, true},
		{"just before the cut-off", cut, n, 2, true},
		// user1's epoch is kept as long as its session lives; the rest go.
		{"past the cut-off", cut.Add(time.Second), 1, 1, true},
		{"after every session", at(120).Add(life), 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(tc.now)
			s.Sweep(tc.now)
			if subjects, tenants := s.Epochs(); subjects != tc.subjects || tenants != tc.tenants {
				t.Errorf("held %d subjects and %d tenants, want %d and %d", subjects, tenants, tc.subjects, tc.tenants)
			}
			if err := s.Check(ctx, old.ID, tc.now); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("the session made before the revocation: Check = %v, want ErrNotFound", err)
			}
			if err := s.Check(ctx, fresh.ID, tc.now); (err == nil) != tc.freshLive {
				t.Errorf("the session made after the revocation: Check = %v, live want %v", err, tc.freshLive)
			}
		})
	}
}

// TestMemoryRefusesLongerLifetimes: forgetting epochs is only safe when no
// session outlives the bound, so Create and Rotate refuse one that would.
func TestMemoryRefusesLongerLifetimes(t *testing.T) {
	ctx := context.Background()
	s := session.NewMemoryStore(session.WithMaxLifetime(time.Hour))
	if err := s.Create(ctx, mk(t, "A", "alice", at(0), time.Hour+time.Second)); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("Create beyond the lifetime: %v, want ErrInvalid", err)
	}
	x := mk(t, "A", "alice", at(0), time.Minute)
	if err := s.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), at(10), at(0).Add(2*time.Hour)); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("Rotate beyond the lifetime: %v, want ErrInvalid", err)
	}
	if _, err := s.Rotate(ctx, x.ID, x.RefreshID, id(t), at(10), at(0).Add(time.Hour)); err != nil {
		t.Errorf("Rotate to the lifetime: %v", err)
	}
}

func TestMemoryStoreWithLifetime(t *testing.T) {
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		s := session.NewMemoryStore(session.WithMaxLifetime(30*24*time.Hour), session.WithJanitor(time.Millisecond))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkMemoryEpochs1M measures the heap that 1,000,000 revoked
// subjects (without sessions) take in the memory store, and what is left
// after the Sweep that forgets them once they are older than the lifetime
// bound. It takes a few seconds, so it runs only as a benchmark:
//
//	go test -run '^$' -bench MemoryEpochs1M -benchtime 1x ./session/
func BenchmarkMemoryEpochs1M(b *testing.B) {
	const n = 1_000_000
	const life = time.Hour
	ctx := context.Background()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := session.NewMemoryStore(session.WithMaxLifetime(life))
		for i := range n {
			if _, err := s.RevokeSubject(ctx, fmt.Sprint("tenant-", i%100), fmt.Sprint("user-", i), t0); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/subject")
		start := time.Now()
		s.Sweep(t0.Add(life + time.Hour))
		b.ReportMetric(time.Since(start).Seconds()*1e3, "forget-ms")
		if subjects, tenants := s.Epochs(); subjects != 0 || tenants != 0 {
			b.Fatalf("held %d subjects and %d tenants after the Sweep", subjects, tenants)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/subject-after")
		runtime.KeepAlive(s)
	}
}
