package apikey

import (
	"context"
	"log/slog"
	"time"
)

// flushLoop writes last-used times every flush interval until Close.
func (m *Manager) flushLoop() {
	tick := time.NewTicker(m.flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(m.flushEvery, flushTimeout))
		if err := m.flush(ctx); err != nil {
			// The times stay in memory; the next flush retries.
			m.log.LogAttrs(ctx, slog.LevelWarn, "api key last-used flush failed", slog.Any("error", err))
		}
		cancel()
	}
}

// clockLoop refreshes the coarse clock until Close. It does nothing else,
// so nothing (a slow store, a flush) can hold the clock back.
func (m *Manager) clockLoop() {
	tick := time.NewTicker(clockTick)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.coarse.Store(time.Now().UnixNano())
		}
	}
}

// nowNanos is Verify's clock. Reading the wall clock costs more than the
// rest of Verify but the hash on some virtual machines (63ns of a 300ns
// Verify on the machine the benchmarks ran on), so with the default clock
// Verify reads the copy clockLoop keeps instead: expiry and rotation
// grace deadlines are then judged up to about 10ms late, well within what
// any expiry of keys that live for days can notice. An injected clock is
// read on every call.
func (m *Manager) nowNanos() int64 {
	if n := m.coarse.Load(); n != 0 {
		return n
	}
	return m.now().UnixNano()
}

// flush writes, in one TouchLastUsed, the last use of every key used since
// the last successful flush.
func (m *Manager) flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	batch := map[string]time.Time{}
	written := map[*usage]int64{}
	m.mu.RLock()
	for id, e := range m.byID {
		if last := e.use.last.Load(); last > e.use.flushed {
			batch[id] = time.Unix(0, last).UTC()
			written[e.use] = last
		}
	}
	m.mu.RUnlock()
	if len(batch) == 0 {
		return nil
	}
	if err := m.store.TouchLastUsed(ctx, batch); err != nil {
		return err
	}
	for u, last := range written {
		u.flushed = last
	}
	return nil
}
