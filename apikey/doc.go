// Package apikey issues, verifies, rotates and revokes Relay Auth API
// keys (security.md 15).
//
// A key looks like this one (the key of an all-zero body):
//
//	rk_live_0000000000000000000000000000000001Dcbuq
//
// "rk_", the environment ("live" for production, "test" elsewhere), 192
// random bits in 33 base62 characters, and a 6-character CRC-32 checksum
// of the rest (the format of GitHub's tokens). Secret scanners recognize
// the prefix and validate the checksum; Parse rejects typos and made-up
// keys without a lookup. Only the key's SHA-256 (a Hash) is stored, and
// only a masked form ("rk_live_…cbuq") is ever shown again: the key
// itself appears once, in the answer to Create or Rotate.
//
// The Manager is the API: Create, Verify (the hot path, answered from
// memory without allocating), Rotate with a grace period for the previous
// secret, Revoke, Get and List. It keeps its keys in a Store: the
// MemoryStore here, a local file (package filestore, API_KEYS_FILE) or
// Redis (package redisstore); package apikeytest is the conformance suite
// all of them pass.
package apikey
