package streamlog

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestLost(t *testing.T) {
	// A reader that read up to entry 5-0, the 5th entry ever added.
	c := Cursor{ID{5, 0}, 5}
	tests := []struct {
		name string
		st   redis.XInfoStream
		lost bool
	}{
		{"nothing new", redis.XInfoStream{Length: 5, EntriesAdded: 5, LastGeneratedID: "5-0", RecordedFirstEntryID: "1-0", MaxDeletedEntryID: "0-0"}, false},
		{"two new", redis.XInfoStream{Length: 7, EntriesAdded: 7, LastGeneratedID: "7-0", RecordedFirstEntryID: "1-0", MaxDeletedEntryID: "0-0"}, false},
		{"read entries trimmed", redis.XInfoStream{Length: 2, EntriesAdded: 7, LastGeneratedID: "7-0", RecordedFirstEntryID: "6-0", MaxDeletedEntryID: "0-0"}, false},
		{"all read entries trimmed, none new", redis.XInfoStream{Length: 0, EntriesAdded: 5, LastGeneratedID: "5-0", MaxDeletedEntryID: "0-0"}, false},
		{"an unread entry trimmed", redis.XInfoStream{Length: 1, EntriesAdded: 7, LastGeneratedID: "7-0", RecordedFirstEntryID: "7-0", MaxDeletedEntryID: "0-0"}, true},
		{"every unread entry trimmed", redis.XInfoStream{Length: 0, EntriesAdded: 7, LastGeneratedID: "7-0", MaxDeletedEntryID: "0-0"}, true},
		{"an unread entry deleted", redis.XInfoStream{Length: 6, EntriesAdded: 7, LastGeneratedID: "7-0", RecordedFirstEntryID: "1-0", MaxDeletedEntryID: "6-0"}, true},
		{"a read entry deleted", redis.XInfoStream{Length: 6, EntriesAdded: 7, LastGeneratedID: "7-0", RecordedFirstEntryID: "1-0", MaxDeletedEntryID: "4-0"}, false},
		{"a new log", redis.XInfoStream{Length: 2, EntriesAdded: 2, LastGeneratedID: "9-0", RecordedFirstEntryID: "8-0", MaxDeletedEntryID: "0-0"}, true},
		{"a new log, behind", redis.XInfoStream{Length: 6, EntriesAdded: 6, LastGeneratedID: "3-0", RecordedFirstEntryID: "1-0", MaxDeletedEntryID: "0-0"}, true},
	}
	for _, tt := range tests {
		if got := Lost(c, &tt.st); got != tt.lost {
			t.Errorf("%s: Lost = %v", tt.name, got)
		}
	}
}

func TestCursorText(t *testing.T) {
	c := Cursor{ID{1700000000000, 3}, 42}
	got, ok := ParseCursor(c.String())
	if !ok || got != c {
		t.Fatalf("ParseCursor(%q) = %v, %v", c.String(), got, ok)
	}
	for _, bad := range []string{"", "1-0", "1-0#", "1-0#-1", "x-0#1", "1#1"} {
		if _, ok := ParseCursor(bad); ok {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
}
