// Package filestore is the apikey.Store kept in one local JSON file, the
// optional persistence of API_KEYS_FILE: for a single host, or a server
// and the command line sharing the host's key file. It holds hashes and
// masked keys only, never a key.
//
// # The file
//
//	{
//	  "format": "relayauth-apikeys",
//	  "version": 1,
//	  "checksum": "sha256:<hex>",
//	  "keys": [
//	    {"id":"key_…","name":"deploy","tenant":"acme",…},
//	    …
//	  ]
//	}
//
// One key per line, oldest first. The checksum is the SHA-256 of the
// "keys" array in compact form (whitespace outside strings removed), so a
// truncated, corrupted or hand-edited file is detected instead of
// silently losing or changing keys. The file is the owner's only (mode
// 0600); a file readable by group or others is refused.
//
// # Refusing bad files
//
// Open reads the file if it exists and refuses, with an error naming the
// file and the problem (FileError, matching ErrBadFile), a file that is
// empty, not JSON, not this format, of a newer version, failing its
// checksum, holding an invalid or duplicate key, or too widely readable.
// A refused file is never written, renamed or touched: every write first
// re-reads the file, and stops if it is bad. A missing file is fine: it
// is created by the first write, not by Open.
//
// # Writes and other processes
//
// Every write replaces the whole file atomically: a temporary file in the
// same directory is written, synced, renamed over the file, and the
// directory is synced, so a crash leaves the old file or the new one,
// never a mix. Several processes may use one file (a server and
// `relayauth keys ...`): each write takes an exclusive flock on the
// sibling lock file <path>.lock (created at the first write, and never to
// be deleted while processes use the file), re-reads the file under the
// lock, applies the change and writes, so no process's change is lost to
// another's write. Reads take no lock: a rename is atomic, so a reader
// sees the old file or the new one. Each operation stats the file and
// re-reads it only when it changed (another inode, size or modification
// time), so reads cost one stat.
//
// The store needs flock(2): it builds on Unix systems only.
package filestore
