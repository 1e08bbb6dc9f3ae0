package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/pubsub"
	"github.com/relayauth/relayauth/internal/streamlog"
)

// Revocation propagation: see "Revocation propagation" in the package
// documentation.

// logRetention is how long the revocation log keeps an entry. An instance
// whose reconciliation falls further behind than this (a long outage)
// finds entries it never read trimmed away, and forgets every session it
// cached instead (readLog).
const logRetention = 15 * time.Minute

// logBatch is how many log entries one reconciliation read returns.
const logBatch = 1000

// Messages on the revocations channel, all fields in decimal:
//
//	s <made> <id>              one session revoked (Revoke, or reuse in Rotate)
//	e <made> <instant> <field> a not-before epoch raised to instant
//
// made is when the revocation was made (the revoking store's clock, Unix
// ns), the start of auth_revocation_propagation_seconds. field is the
// epochs hash field (keys.go). The last field runs to the end of the
// message, so ids with spaces survive.
func sessionMessage(made int64, id string) string { return "s " + itoa(made) + " " + id }

func epochMessage(made, instant int64, field string) string {
	return "e " + itoa(made) + " " + itoa(instant) + " " + field
}

// message is a parsed revocation message or log entry.
type message struct {
	kind    byte // 's' or 'e'
	made    int64
	id      string // 's'
	instant int64  // 'e'
	scope   scope  // 'e'
}

func parseMessage(p string) (message, bool) {
	if len(p) < 2 || p[1] != ' ' || (p[0] != 's' && p[0] != 'e') {
		return message{}, false
	}
	m := message{kind: p[0]}
	made, rest, ok := strings.Cut(p[2:], " ")
	if !ok {
		return message{}, false
	}
	var err error
	if m.made, err = strconv.ParseInt(made, 10, 64); err != nil {
		return message{}, false
	}
	if m.kind == 's' {
		m.id = rest
		return m, rest != ""
	}
	instant, field, ok := strings.Cut(rest, " ")
	if !ok {
		return message{}, false
	}
	if m.instant, err = strconv.ParseInt(instant, 10, 64); err != nil {
		return message{}, false
	}
	m.scope, ok = parseEpochField(field)
	return m, ok
}

// applyMessage applies a revocation another store (or this one) made,
// through the mirror's one update path. The observer sees every message
// that arrived by pub/sub (observeAlways), and every one that
// reconciliation found still missing from the mirror.
func (s *Store) applyMessage(m message, observeAlways bool) {
	changed := false
	switch m.kind {
	case 's':
		changed = s.mirror.apply(change{kind: revoked, id: m.id, at: s.clock()}) != 0
	case 'e':
		changed = s.mirror.apply(change{kind: epoch, scope: m.scope, at: m.instant}) < m.instant
	}
	if s.observe != nil && (observeAlways || changed) {
		s.observe(time.Duration(max(0, s.clock()-m.made)))
	}
}

// logRevocation appends a single-session revocation to the log that
// reconciliation reads, trimming entries older than logRetention.
func (s *Store) logRevocation(ctx context.Context, id string, made int64) error {
	return s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.keys.revokedLog(),
		MinID:  logMinID(made),
		Approx: true,
		Values: []any{"id", id, "at", itoa(made)},
	}).Err()
}

// logMinID is the MINID that trims the log, when an entry made at made
// (Unix ns) is added, of the entries older than logRetention.
func logMinID(made int64) string { return itoa((made-int64(logRetention))/1e6) + "-0" }

// readLog applies the log entries after the cursor and moves the cursor
// past them. The first call only places the cursor at the log's end: an
// empty mirror has nothing to catch up on. If entries after the cursor
// are gone (this store fell more than logRetention behind, and they were
// trimmed; or deleted; or Redis lost its data), the mirror forgets every
// session, which then load again from Redis. Each round trip reads the
// log's state and the entries in one transaction, so that what
// streamlog.Lost judges is what was read. Called with refreshMu held.
func (s *Store) readLog(ctx context.Context) error {
	log := s.keys.revokedLog()
	for {
		var info *redis.XInfoStreamCmd
		var rng *redis.XMessageSliceCmd
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			info = p.XInfoStream(ctx, log)
			if s.placed {
				rng = p.XRangeN(ctx, log, "("+s.cursor.ID.String(), "+", logBatch)
			}
			return nil
		})
		if err != nil && info.Err() != nil && strings.Contains(info.Err().Error(), "no such key") {
			if s.placed && s.cursor.Added > 0 {
				// The log is gone, with entries this store read: Redis
				// lost its data (the boot marker usually says so first).
				s.mirror.apply(change{kind: reset})
			}
			s.cursor, s.placed = streamlog.Cursor{}, true
			return nil
		}
		if err != nil {
			return err
		}
		st := info.Val()
		if !s.placed || streamlog.Lost(s.cursor, st) {
			if s.placed {
				s.mirror.apply(change{kind: reset})
			}
			s.cursor, s.placed = streamlog.End(st), true
			return nil
		}
		entries := rng.Val()
		for _, e := range entries {
			eid, ok := streamlog.ParseID(e.ID)
			if !ok {
				return fmt.Errorf("bad revocation log entry id %q", e.ID)
			}
			id, _ := e.Values["id"].(string)
			at, _ := e.Values["at"].(string)
			made, err := strconv.ParseInt(at, 10, 64)
			if id != "" && err == nil {
				s.applyMessage(message{kind: 's', made: made, id: id}, false)
			}
			// Nothing after the cursor is lost, so the entries read are
			// every one added since, in order.
			s.cursor = s.cursor.Next(eid)
		}
		if len(entries) < logBatch {
			return nil
		}
	}
}

// subscribed packs the subscription's state into one word: a generation
// that every change raises, and whether it is up (the low bit). The
// listener goroutine (and New, before it starts) is its only writer.
//
// A subscription that comes up does not make the state fresh by itself:
// only a reconciliation that starts after it does (subSince), since
// messages published while it was down are lost.
func (s *Store) setSubscribed(up bool) {
	v := (s.sub.Load()>>1 + 1) << 1
	if up {
		s.subSince.Store(s.clock())
		v |= 1
	}
	s.sub.Store(v)
	s.wake()
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Store) every() time.Duration { return max(time.Duration(s.freshness/4), time.Millisecond) }

// subscribe opens a subscription to the revocations channel and waits for
// Redis to confirm it.
func (s *Store) subscribe(ctx context.Context) (*redis.PubSub, error) {
	return pubsub.Subscribe(ctx, s.rdb, s.keys.revocations(), s.every())
}

// listen applies the messages of ps until it fails, then subscribes again
// (retrying with backoff) and reconciles from the last confirmed point:
// whatever was published while the subscription was down is in the log
// and the epochs hash.
func (s *Store) listen(ctx context.Context, ps *redis.PubSub) {
	for {
		s.setPubSub(ps)
		_ = s.receive(ctx, ps)
		s.setPubSub(nil)
		ps.Close()
		s.setSubscribed(false)
		wait := max(time.Duration(s.freshness/16), time.Millisecond)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			var err error
			if ps, err = s.subscribe(ctx); err == nil {
				break
			}
			wait = min(2*wait, s.every())
		}
		s.setSubscribed(true)
		rctx, cancel := context.WithTimeout(ctx, s.every())
		_ = s.refresh(rctx) // a failure shows as staleness; the loop retries
		cancel()
	}
}

// setPubSub records the live subscription, for Close and the tests.
func (s *Store) setPubSub(ps *redis.PubSub) {
	s.psMu.Lock()
	s.ps = ps
	s.psMu.Unlock()
}

// cutSubscription closes the live subscription as a dropped connection
// would: the listener notices, subscribes again and reconciles.
func (s *Store) cutSubscription() {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if s.ps != nil {
		s.ps.Close()
	}
}

// receive applies messages until the subscription fails. A quiet
// connection is pinged every freshness/4; no answer by the next one
// counts as a failure.
func (s *Store) receive(ctx context.Context, ps *redis.PubSub) error {
	pinged := false
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m, err := ps.ReceiveTimeout(ctx, s.every())
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := m.(type) {
		case *redis.Message:
			if s.dropMessages.Load() {
				continue // test hook: a lost message
			}
			if msg, ok := parseMessage(m.Payload); ok {
				s.applyMessage(msg, true)
			}
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				return errors.New("unsubscribed")
			}
		}
	}
}

// StateAge is how old the revocation state that Check answers from is:
// the time since the start of the last reconciliation that completed
// with the subscription up throughout. Check fails closed when it exceeds
// the freshness window, and also, whatever the age, while the
// subscription is down and until a reconciliation after it came back
// completes. For the auth_revocation_state_age_seconds gauge.
func (s *Store) StateAge() time.Duration {
	return time.Duration(max(0, s.clock()-s.lastContact.Load()))
}
