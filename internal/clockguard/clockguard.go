// Package clockguard measures how far this instance's clock is from the
// shared Redis's and says when it is too far to be trusted.
//
// Revocation compares times from different instances' clocks: a session's
// creation comes from the instance that created it, a not-before epoch
// from the instance that revoked. A creator whose clock runs ahead makes
// sessions that look newer than a revocation issued just after them from
// another instance, which then does not cover them. Redis's clock is the
// one reference every instance sees, so each instance measures its offset
// from it (TIME, on every master of a Cluster) on start and periodically,
// exports it, and reports itself not ready, saying why in the log, while
// the offset is beyond the tolerance: two ready instances then disagree by
// at most twice the tolerance.
package clockguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrSkew is what Err wraps while the offset is beyond the tolerance.
var ErrSkew = errors.New("clock disagrees with Redis beyond CLOCK_SKEW_TOLERANCE")

// errUnmeasured is Err before the first measurement succeeded: an offset
// nobody measured cannot be vouched for.
var errUnmeasured = errors.New("clock offset from Redis not measured yet")

// Measure returns the offset of the reference clock from this instance's
// (reference minus local; the largest in magnitude when there are several
// references).
type Measure func(ctx context.Context) (time.Duration, error)

// Guard keeps the last measured offset and its verdict. Safe for
// concurrent use.
type Guard struct {
	measure   Measure
	tolerance time.Duration
	log       *slog.Logger
	observe   func(time.Duration)

	mu       sync.Mutex
	offset   time.Duration
	measured bool
}

// Option configures a Guard.
type Option func(*Guard)

// WithLogger sets where the guard says that the clock went out of, or came
// back within, the tolerance (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(g *Guard) { g.log = l } }

// WithObserver sets a function called with every offset measured: the
// auth_clock_offset_seconds gauge.
func WithObserver(f func(time.Duration)) Option { return func(g *Guard) { g.observe = f } }

// New returns a guard that judges the offsets measure returns against
// tolerance (positive).
func New(measure Measure, tolerance time.Duration, opts ...Option) (*Guard, error) {
	if measure == nil || tolerance <= 0 {
		return nil, errors.New("clockguard: nil measure or tolerance not positive")
	}
	g := &Guard{measure: measure, tolerance: tolerance, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Check measures the offset once and updates the verdict; it logs when the
// verdict changes. A failed measurement (Redis unreachable) leaves the
// last verdict as it was: staleness of the revocation state is judged, and
// fails closed, elsewhere.
func (g *Guard) Check(ctx context.Context) error {
	off, err := g.measure(ctx)
	if err != nil {
		return fmt.Errorf("measuring the clock offset from Redis: %w", err)
	}
	if g.observe != nil {
		g.observe(off)
	}
	g.mu.Lock()
	wasSkewed, first := g.skewedLocked(), !g.measured
	g.offset, g.measured = off, true
	skewed := g.skewedLocked()
	g.mu.Unlock()
	switch {
	case skewed && (first || !wasSkewed):
		g.log.Error("not ready: this instance's clock disagrees with Redis's beyond the tolerance; revocations could miss sessions it creates. Fix NTP on this host",
			"offset", off.String(), "tolerance", g.tolerance.String(), "setting", "CLOCK_SKEW_TOLERANCE")
	case !skewed && wasSkewed:
		g.log.Info("ready again: clock within the tolerance of Redis's", "offset", off.String(), "tolerance", g.tolerance.String())
	}
	return nil
}

func (g *Guard) skewedLocked() bool {
	return g.measured && (g.offset > g.tolerance || g.offset < -g.tolerance)
}

// Run checks every interval until ctx ends.
func (g *Guard) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		_ = g.Check(cctx) // a failure keeps the last verdict
		cancel()
	}
}

// Err is nil while the last measured offset is within the tolerance;
// otherwise it says why this instance should not serve.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.measured:
		return errUnmeasured
	case g.skewedLocked():
		return fmt.Errorf("%w: offset %v, tolerance %v", ErrSkew, g.offset, g.tolerance)
	}
	return nil
}

// Offset is the last measured offset (reference minus local).
func (g *Guard) Offset() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.offset
}

// Redis measures the offset of Redis's clock (TIME) from now, on the one
// server of a client, or on every master of a Cluster, returning the
// largest in magnitude. Each reading is taken against the midpoint of its
// round trip, so its error is at most half the round trip.
func Redis(client redis.UniversalClient, now func() time.Time) Measure {
	one := func(ctx context.Context, c redis.Cmdable) (time.Duration, error) {
		before := now()
		ref, err := c.Time(ctx).Result()
		after := now()
		if err != nil {
			return 0, err
		}
		mid := before.Add(after.Sub(before) / 2)
		return ref.Sub(mid), nil
	}
	return func(ctx context.Context) (time.Duration, error) {
		cc, ok := client.(*redis.ClusterClient)
		if !ok {
			return one(ctx, client)
		}
		var mu sync.Mutex
		var worst time.Duration
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			off, err := one(ctx, c)
			if err != nil {
				return err
			}
			mu.Lock()
			if abs(off) > abs(worst) {
				worst = off
			}
			mu.Unlock()
			return nil
		})
		return worst, err
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
