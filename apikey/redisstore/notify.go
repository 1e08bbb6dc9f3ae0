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

// Notify logs the change and publishes "<id> <at, Unix ns>" on the
// changes channel.
func (s *Store) Notify(ctx context.Context, id string, at time.Time) error {
	ns := at.UnixNano()
	trim := strconv.FormatInt((ns-int64(changeRetention))/1e6, 10) + "-0"
	err := notifyScript.Run(ctx, s.rdb, []string{s.keys.changed()}, trim, id,
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

// streamID is a Redis stream entry id, ms-seq.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	ms, seq, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return streamID{a, b}, ok && err1 == nil && err2 == nil
}

func (a streamID) after(b streamID) bool { return a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq) }

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// changeCursor is where a reader of the change log stands: the stream id
// of the last entry it read (or of the log's last entry when it placed
// the cursor), and how many entries had been added to the log up to it
// (XINFO's entries-added), which is what tells whether entries it never
// read were trimmed (see lostSince). As text, "<ms>-<seq>#<added>".
type changeCursor struct {
	id    streamID
	added int64
}

func (c changeCursor) String() string { return c.id.String() + "#" + strconv.FormatInt(c.added, 10) }

func parseCursor(s string) (changeCursor, bool) {
	id, added, ok := strings.Cut(s, "#")
	sid, ok1 := parseStreamID(id)
	n, err := strconv.ParseInt(added, 10, 64)
	return changeCursor{sid, n}, ok && ok1 && err == nil && n >= 0
}

// lostSince reports whether entries added to the log after c are gone:
//
//   - trimmed (XADD MINID, XTRIM), which takes the oldest entries, so it
//     took one after c only if it took every entry up to c: then every
//     entry left is after c, and there are fewer of them than were added
//     since c. Trimming does not move max-deleted-entry-id.
//   - deleted one by one (XDEL), which moves max-deleted-entry-id;
//   - or the log is a new one (Redis lost its data): fewer entries ever
//     added, or a last id before c.
func lostSince(c changeCursor, st *redis.XInfoStream) bool {
	last, _ := parseStreamID(st.LastGeneratedID)
	if st.EntriesAdded < c.added || c.id.after(last) {
		return true
	}
	if deleted, ok := parseStreamID(st.MaxDeletedEntryID); ok && deleted.after(c.id) {
		return true
	}
	if first, ok := parseStreamID(st.RecordedFirstEntryID); ok && st.Length > 0 && !first.after(c.id) {
		return false // an entry up to c is left, so none after it was trimmed
	}
	return st.Length < st.EntriesAdded-c.added
}

// Changes implements apikey.Notifier: the log entries after cursor (a
// changeCursor; stream ids are Redis's clock, so Managers' clock skew
// does not matter). Each round trip reads the log's state and the entries
// in one transaction, so that what lostSince judges is what was read.
func (s *Store) Changes(ctx context.Context, cursor string) ([]string, string, error) {
	log := s.keys.changed()
	var cur changeCursor
	if cursor != "" {
		var ok bool
		if cur, ok = parseCursor(cursor); !ok {
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
				rng = p.XRangeN(ctx, log, "("+cur.id.String(), "+", changeBatch)
			}
			return nil
		})
		if err != nil && info.Err() != nil && strings.Contains(info.Err().Error(), "no such key") {
			if cur.added > 0 {
				// The log is gone, entries the caller read with it:
				// Redis lost its data.
				return nil, changeCursor{}.String(), apikey.ErrChangesLost
			}
			return ids, cur.String(), nil // nothing logged yet
		}
		if err != nil {
			return nil, cursor, unavailable(err)
		}
		st := info.Val()
		last, _ := parseStreamID(st.LastGeneratedID)
		end := changeCursor{last, st.EntriesAdded}
		if cursor == "" {
			return nil, end.String(), nil
		}
		if lostSince(cur, st) {
			return nil, end.String(), apikey.ErrChangesLost
		}
		entries := rng.Val()
		for _, e := range entries {
			eid, ok := parseStreamID(e.ID)
			if !ok {
				return nil, cursor, unavailable(fmt.Errorf("bad change log entry id %q", e.ID))
			}
			if id, _ := e.Values["id"].(string); apikey.ValidID(id) {
				ids = append(ids, id)
			}
			// Nothing after the cursor is lost, so the entries read are
			// every one added since, in order.
			cur = changeCursor{eid, cur.added + 1}
		}
		if len(entries) < changeBatch {
			return ids, cur.String(), nil
		}
	}
}
