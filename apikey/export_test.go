package apikey

import (
	"context"
	"io"
)

// Hooks for the external tests.

// Flush writes the pending last-used times now.
func (m *Manager) Flush(ctx context.Context) error { return m.flush(ctx) }

// NegativeLen returns the size of the negative cache.
func (m *Manager) NegativeLen() int { return m.misses.len() }

// GenerateFrom builds a key from r's bytes.
func GenerateFrom(r io.Reader, env Env) (string, error) { return generate(r, env) }

// CRC32 is the checksum's CRC.
var CRC32 = crc32String

// PendingAnnouncements returns the ids of the keys whose change this
// Manager has yet to announce, sorted.
func (m *Manager) PendingAnnouncements() []string { return m.pendingIDs() }

// Watched returns the ids of the keys this Manager re-reads on every
// reconciliation, sorted.
func (m *Manager) Watched() []string { return m.watchedIDs() }
