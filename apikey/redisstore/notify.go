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

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/streamlog"
)

// The store is an apikey.Notifier: see "Change propagation" in the
// package documentation.
var _ apikey.Notifier = (*Store)(nil)

// changeRetention is how long the change log keeps an entry: the log only
// has to cover the gap between two reconciliations of any one Manager;
// one that falls further behind reloads every key (apikey.ErrChangesLost).
const changeRetention = 15 * time.Minute

// changeBatch is how many log entries one Changes read returns at most
// per round trip.
const changeBatch = 1000

// pingEvery is how long a quiet subscription waits before it pings;
// no answer by the next wait counts as a lost connection.
const pingEvery = time.Second

// notifyScript logs a change and publishes it in one step (the log is
// one key; PUBLISH has none), so a change is never logged without its
// message, nor announced without its log entry.
//
//	KEYS[1] change log; ARGV[1] trim: the oldest id to keep; ARGV[2] key
//	id; ARGV[3] when the change was made, Unix ns; ARGV[4] channel
var notifyScript = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'id', ARGV[2], 'at', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2] .. ' ' .. ARGV[3])
return 1
`)

// intentScript is notifyScript for an intent (apikey.Notifier.Intend):
// the entry says so (k i), which no reader needs, as every entry makes
// readers re-read the key; it keeps the two steps apart for operators and
// tests.
var intentScript = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'id', ARGV[2], 'at', ARGV[3], 'k', 'i')
redis.call('PUBLISH', ARGV[4], ARGV[2] .. ' ' .. ARGV[3])
return 1
`)

// Intend logs and publishes, before the write, that the key id is about
// to change: the same entry and message as Notify's.
func (s *Store) Intend(ctx context.Context, id string, at time.Time) error {
	return s.announce(ctx, intentScript, id, at)
}

// Notify logs the change and publishes "<id> <at, Unix ns>" on the
// changes channel.
func (s *Store) Notify(ctx context.Context, id string, at time.Time) error {
	return s.announce(ctx, notifyScript, id, at)
}

func (s *Store) announce(ctx context.Context, script *redis.Script, id string, at time.Time) error {
	ns := at.UnixNano()
	trim := strconv.FormatInt((ns-int64(changeRetention))/1e6, 10) + "-0"
	err := script.Run(ctx, s.rdb, []string{s.keys.changed()}, trim, id,
		strconv.FormatInt(ns, 10), s.keys.changes()).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

func parseChange(p string) (id string, at time.Time, ok bool) {
	id, ns, ok := strings.Cut(p, " ")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !apikey.ValidID(id) {
		return "", time.Time{}, false
	}
	return id, time.Unix(0, n), true
}

// subscribe opens a subscription to the changes channel and waits for
// Redis to confirm it.
func (s *Store) subscribe(ctx context.Context) (*redis.PubSub, error) {
	return pubsub.Subscribe(ctx, s.rdb, s.keys.changes(), pingEvery)
}

// Subscribe implements apikey.Notifier.
func (s *Store) Subscribe(ctx context.Context, fn func(id string, at time.Time), up func(bool)) error {
	ps, err := s.subscribe(ctx)
	if err != nil {
		return unavailable(err)
	}
	for {
		up(true)
		stop := context.AfterFunc(ctx, func() { ps.Close() })
		s.receive(ctx, ps, fn)
		stop()
		ps.Close()
		up(false)
		wait := 10 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			if ps, err = s.subscribe(ctx); err == nil {
				break
			}
			wait = min(2*wait, pingEvery)
		}
	}
}

// receive delivers messages until the subscription fails.
func (s *Store) receive(ctx context.Context, ps *redis.PubSub, fn func(string, time.Time)) {
	pinged := false
	for ctx.Err() == nil {
		m, err := ps.ReceiveTimeout(ctx, pingEvery)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if ps.Ping(ctx) != nil {
					return
				}
				pinged = true
				continue
			}
			return
		}
		pinged = false
		switch m := m.(type) {
		case *redis.Message:
			if s.dropMessages.Load() {
				continue // test hook: a lost message
			}
			if id, at, ok := parseChange(m.Payload); ok {
				fn(id, at)
			}
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				return
			}
		}
	}
}

// Changes implements apikey.Notifier: the log entries after cursor (a
// streamlog.Cursor; stream ids are Redis's clock, so Managers' clock skew
// does not matter). Each round trip reads the log's state and the entries
// in one transaction, so that what streamlog.Lost judges is what was read.
func (s *Store) Changes(ctx context.Context, cursor string) ([]string, string, error) {
	log := s.keys.changed()
	var cur streamlog.Cursor
	if cursor != "" {
		var ok bool
		if cur, ok = streamlog.ParseCursor(cursor); !ok {
			return nil, cursor, fmt.Errorf("%w: bad change cursor %q", apikey.ErrInvalid, cursor)
		}
	}
	var ids []string
	for {
		var info *redis.XInfoStreamCmd
		var rng *redis.XMessageSliceCmd
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			info = p.XInfoStream(ctx, log)
			if cursor != "" {
				rng = p.XRangeN(ctx, log, "("+cur.ID.String(), "+", changeBatch)
			}
			return nil
		})
		if err != nil && info.Err() != nil && strings.Contains(info.Err().Error(), "no such key") {
			if cur.Added > 0 {
				// The log is gone, entries the caller read with it:
				// Redis lost its data.
				return nil, streamlog.Cursor{}.String(), apikey.ErrChangesLost
			}
			return ids, cur.String(), nil // nothing logged yet
		}
		if err != nil {
			return nil, cursor, unavailable(err)
		}
		st := info.Val()
		end := streamlog.End(st)
		if cursor == "" {
			return nil, end.String(), nil
		}
		if streamlog.Lost(cur, st) {
			return nil, end.String(), apikey.ErrChangesLost
		}
		entries := rng.Val()
		for _, e := range entries {
			eid, ok := streamlog.ParseID(e.ID)
			if !ok {
				return nil, cursor, unavailable(fmt.Errorf("bad change log entry id %q", e.ID))
			}
			if id, _ := e.Values["id"].(string); apikey.ValidID(id) {
				ids = append(ids, id)
			}
			// Nothing after the cursor is lost, so the entries read are
			// every one added since, in order.
			cur = cur.Next(eid)
		}
		if len(entries) < changeBatch {
			return ids, cur.String(), nil
		}
	}
}
