package throttle

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestAccountLockoutBacksOffExponentially(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := New(Policy{Threshold: 3, Base: time.Second, Max: 8 * time.Second}, Policy{Threshold: 1000, Base: time.Second, Max: time.Minute}, WithClock(c.now))
	for i := 0; i < 3; i++ {
		if _, ok := l.Allow("admin", "10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused before the threshold", i+1)
		}
		l.Failure("admin", "10.0.0.1")
	}
	// Failure 3 is the threshold: still free. Each further one doubles.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if _, ok := l.Allow("admin", "10.0.0.2"); !ok {
			t.Fatal("refused while not locked")
		}
		l.Failure("admin", "10.0.0.2")
		wait, ok := l.Allow("admin", "10.0.0.3") // any client: the account is locked
		if ok || wait != want {
			t.Fatalf("locked for %v (ok=%v), want %v", wait, ok, want)
		}
		c.advance(wait)
	}
	// Another account is untouched.
	if _, ok := l.Allow("alice", "10.0.0.3"); !ok {
		t.Fatal("lockout leaked to another account")
	}
}

func TestSuccessResetsAccountNotClient(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := New(Policy{Threshold: 2, Base: time.Second, Max: time.Minute}, Policy{Threshold: 3, Base: time.Second, Max: time.Minute}, WithClock(c.now))
	l.Failure("admin", "ip")
	l.Failure("admin", "ip")
	l.Success("admin")
	l.Failure("admin", "ip") // account back to 1; client at 3 (the threshold)
	if _, ok := l.Allow("admin", "other-ip"); !ok {
		t.Fatal("success did not reset the account")
	}
	l.Failure("bob", "ip") // client's 4th: locked
	if _, ok := l.Allow("carol", "ip"); ok {
		t.Fatal("a client over its threshold may try other accounts")
	}
}

func TestQuietKeyStartsAfresh(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := Policy{Threshold: 2, Base: time.Second, Max: time.Minute}
	l := New(p, p, WithClock(c.now))
	l.Failure("a", "ip")
	l.Failure("a", "ip")
	c.advance(2 * time.Minute)
	l.Failure("a", "ip2")
	if _, ok := l.Allow("a", "ip3"); !ok {
		t.Fatal("old failures still count")
	}
}

func TestCapacityBoundKeepsLockedKeys(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := Policy{Threshold: 1, Base: time.Hour, Max: time.Hour}
	l := New(p, Policy{Threshold: 1 << 30, Base: time.Second, Max: time.Second}, WithClock(c.now), WithCapacity(64))
	l.Failure("victim", "attacker")
	l.Failure("victim", "attacker") // locked for an hour
	for i := 0; i < 1000; i++ {
		l.Failure(fmt.Sprint("spray-", i), fmt.Sprint("ip-", i))
		c.advance(time.Millisecond)
	}
	if l.Len() > 64+2 {
		t.Fatalf("%d keys tracked, capacity 64", l.Len())
	}
	if _, ok := l.Allow("victim", "fresh-ip"); ok {
		t.Fatal("a flood of new keys unlocked the victim")
	}
}

func TestCapacityHoldsUnderLockedFlood(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := Policy{Threshold: 0, Base: time.Hour, Max: time.Hour}
	l := New(p, p, WithClock(c.now), WithCapacity(64))
	for i := 0; i < 1000; i++ {
		l.Failure(fmt.Sprint("a", i), fmt.Sprint("ip", i)) // every key locked at once
		c.advance(time.Millisecond)
	}
	if l.Len() > 64 {
		t.Fatalf("%d keys tracked, capacity 64", l.Len())
	}
}
