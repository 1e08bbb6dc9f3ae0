// Package streamlog reads a Redis stream used as a change log by several
// readers: where a reader stands (a Cursor), and whether entries it never
// read are gone (Lost), which Redis does not say directly. Both Redis
// stores keep such a log (session revocations, API key changes).
package streamlog

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ID is a stream entry id, ms-seq.
type ID struct{ ms, seq uint64 }

// ParseID parses "ms-seq".
func ParseID(s string) (ID, bool) {
	ms, seq, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return ID{a, b}, ok && err1 == nil && err2 == nil
}

// After reports whether a comes after b.
func (a ID) After(b ID) bool { return a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq) }

func (a ID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// Cursor is where a reader stands: the id of the last entry it read (or
// of the log's last entry when it placed the cursor), and how many
// entries had been added to the log up to it (XINFO's entries-added),
// which is what tells whether entries it never read were trimmed (Lost).
// As text, "<ms>-<seq>#<added>".
type Cursor struct {
	ID    ID
	Added int64
}

func (c Cursor) String() string { return c.ID.String() + "#" + strconv.FormatInt(c.Added, 10) }

// ParseCursor parses what Cursor.String wrote.
func ParseCursor(s string) (Cursor, bool) {
	id, added, ok := strings.Cut(s, "#")
	sid, ok1 := ParseID(id)
	n, err := strconv.ParseInt(added, 10, 64)
	return Cursor{sid, n}, ok && ok1 && err == nil && n >= 0
}

// End is the cursor at the end of the log st describes.
func End(st *redis.XInfoStream) Cursor {
	last, _ := ParseID(st.LastGeneratedID)
	return Cursor{last, st.EntriesAdded}
}

// Next is the cursor after reading entry id, the next one after c: valid
// only when nothing after c was lost.
func (c Cursor) Next(id ID) Cursor { return Cursor{id, c.Added + 1} }

// Lost reports whether entries added to the log after c are gone. Needs
// Redis 7.0 or later (entries-added, recorded-first-entry-id).
//
//   - Trimmed (XADD MINID, XTRIM), which takes the oldest entries, so it
//     took one after c only if it took every entry up to c: then every
//     entry left is after c, and there are fewer of them than were added
//     since c. Trimming does not move max-deleted-entry-id (Redis 7.0).
//   - Deleted one by one (XDEL), which moves max-deleted-entry-id.
//   - The log is a new one (Redis lost its data): fewer entries ever
//     added, or a last id before c.
func Lost(c Cursor, st *redis.XInfoStream) bool {
	last, _ := ParseID(st.LastGeneratedID)
	if st.EntriesAdded < c.Added || c.ID.After(last) {
		return true
	}
	if deleted, ok := ParseID(st.MaxDeletedEntryID); ok && deleted.After(c.ID) {
		return true
	}
	if first, ok := ParseID(st.RecordedFirstEntryID); ok && st.Length > 0 && !first.After(c.ID) {
		return false // an entry up to c is left, so none after it was trimmed
	}
	return st.Length < st.EntriesAdded-c.Added
}
