package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	generated := func(id string) bool { return strings.HasPrefix(id, requestPrefix) }
	for _, tc := range []struct {
		name   string
		values []string
		keep   bool
	}{
		{"absent", nil, false},
		{"plain", []string{"trace-42.a_B"}, true},
		{"64 bytes", []string{strings.Repeat("a", 64)}, true},
		{"65 bytes", []string{strings.Repeat("a", 65)}, false},
		{"empty", []string{""}, false},
		{"space", []string{"trace 42"}, false},
		{"newline", []string{"trace\n42"}, false},
		{"non-ASCII", []string{"trace-é"}, false},
		{"two values", []string{"a", "b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := requestID(tc.values)
			if tc.keep {
				if got != tc.values[0] {
					t.Fatalf("got %q, want the caller's %q", got, tc.values[0])
				}
				return
			}
			if !generated(got) {
				t.Fatalf("got %q, want a generated id", got)
			}
		})
	}
	if a, b := nextRequestID(), nextRequestID(); a == b {
		t.Fatalf("two generated ids are equal: %q", a)
	}
}

// TestWriteJSON: a value that encodes is sent whole with its status; one
// that does not is a 500 problem, never a 200 with half a body.
func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	writeJSON(w, http.StatusCreated, statusBody{"ok"})
	if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"status\":\"ok\"}\n" {
		t.Fatalf("%d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	w = httptest.NewRecorder()
	writeJSON(w, http.StatusOK, map[string]any{"f": func() {}})
	var p struct{ Status int }
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 500 {
		t.Fatalf("unencodable value: %d %q", w.Code, w.Body)
	}
	// The pooled buffer is clean for the next answer.
	w = httptest.NewRecorder()
	writeJSON(w, http.StatusOK, statusBody{"ready"})
	if w.Body.String() != "{\"status\":\"ready\"}\n" {
		t.Fatalf("after a failure: %q", w.Body)
	}
}
