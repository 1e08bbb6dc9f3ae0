// Package redisstore is the session.Store backed by Redis (7.0 or later),
// shared by every instance of the server and kept across restarts. It is
// the only session code that imports go-redis.
//
// Redis holds the truth. Every write is a server-side script, so Create
// and Rotate are atomic on the server: of concurrent refreshes with one
// token exactly one wins, and a reused refresh token revokes its session
// in the same step.
//
// A script may run twice for one call: go-redis (by default, and as the
// server builds its client) sends a command again when its connection
// drops or a read times out after the command reached Redis. Create and
// Rotate recognise their own first run (by a random token of the call,
// and by the random next refresh id) and answer as it did, so a lost
// reply never turns a refresh into reuse, nor a new session into a taken
// id. Retried deletions and revocations change nothing more; see each
// script.
//
// Check, the verify hot path, answers from a local mirror of the sessions
// this store created or loaded and of every not-before epoch: no network
// round trip in the common case. A miss loads the session from Redis once
// (concurrent misses on one id share the read) and caches it; an id that
// Redis does not know is remembered briefly, in bounded memory, so tokens
// naming dead sessions do not become a Redis flood.
//
// The caller owns the client: Close stops the store's goroutines and
// leaves the client open.
//
// # Fail closed
//
// security.md 14. The state Check answers from is fresh only while the
// store's subscription to the revocations channel is up AND the last
// reconciliation (below), started after the subscription last came up,
// succeeded within the freshness window (WithFreshness, default 5s;
// reconciliation runs every freshness/4, and the watchdog judges every
// freshness/16, counting a contact one judgement short of the window so
// that it is never late). Otherwise Check answers ErrUnavailable for every id,
// known or not, until both hold again; it recovers on its own. StateAge
// reports the age for the auth_revocation_state_age_seconds gauge. Every
// other method reports a Redis error as ErrUnavailable. If Redis comes
// back without its data (the boot marker in the epochs hash is gone), the
// mirror forgets every session.
//
// # Revocation propagation
//
// Revocations made through this store take effect in its mirror before
// the call returns, and reach every other store (propagate.go) in two
// ways:
//
//   - Push. Every revocation is published on the channel P revocations
//     by the same Lua script that writes it (Revoke, reuse in Rotate,
//     and the epoch raise of RevokeSubject, RevokeTenant and RevokeAll),
//     so no revocation is written without its message. Classic PUBLISH,
//     which Redis Cluster broadcasts to every node. Every store
//     subscribes and applies each message to its mirror through the one
//     update path, within milliseconds.
//   - Reconciliation, for lost messages and reconnects. Every
//     freshness/4, and at once after the subscription comes back, the
//     store re-reads the epochs (when their version moved) and the
//     single-session revocations logged since the last entry it applied
//     (the stream P revoked, read from a cursor; stream ids are Redis's
//     own clock, so instances' clock skew does not matter).
//
// Messages are text, fields separated by one space, the last running to
// the end: "s <made> <id>" for one session, "e <made> <instant> <field>"
// for an epoch raised to instant, where made is when the revocation was
// made (the revoking store's clock, Unix ns) and field the epochs hash
// field. WithPropagationObserver is called with now - made for every
// message received, and for every revocation that reconciliation finds
// the mirror had missed: the auth_revocation_propagation_seconds
// histogram.
//
// The log entry of a Revoke is written before the script (on a Cluster
// the stream is in another slot), so a revocation that took effect is
// always in the log; a Rotate's reuse revocation is logged by its script
// on a single node or a Sentinel set, and right after it on a Cluster,
// whose message is already out (a writer that dies between the two
// leaves the revocation to pub/sub alone). Entries are trimmed after 15 minutes
// (logRetention): the log only has to cover the gap between two
// reconciliations of any one store. A store that falls further behind
// (entries after its cursor are gone: see internal/streamlog, which tells
// from the log's entries-added count, as trimming does not move Redis's
// max-deleted-entry-id) forgets every cached session, which then load
// again from Redis.
//
// # Key layout
//
// With P the prefix (WithPrefix, default "relayauth:"):
//
//	P s:{<id>}                    hash: one session, PEXPIREAT at its ExpiresAt
//	P t:{<tenant>}:all            sorted set: the tenant's session ids, scored by expiry (Unix ms)
//	P t:{<tenant>}:u:<subject>    sorted set: one subject's session ids, same scores
//	P tenants                     sorted set: tenants, scored by their last session's expiry
//	P epochs                      hash: the not-before epochs and two markers
//	P epochs:forget               string: the lease of the store whose turn it is to forget old epochs
//	P revoked                     stream: single-session revocations, fields id and at (Unix ns), kept 15 minutes
//	P revocations                 pub/sub channel (not a key): every revocation
//	P schema                      string: the layout version, "2" (none: version 1)
//	P migration:schema-v2:cursor  string: where an unfinished MigrateSchemaV2 stopped
//
// A session hash has the fields sv (the layout version, "2"; absent in
// version 1), sub, ten, rol and sco (roles and scopes as
// length-prefixed lists), crt, lst and exp (CreatedAt, LastSeenAt and
// ExpiresAt as decimal Unix nanoseconds: exact, unlike float scores), ip,
// ua, rid (the current refresh id) and rvk ("1" on a session revoked for
// refresh-token reuse, kept as a tombstone until it expires), with rvc
// (the next refresh id of the Rotate call that revoked it, so a second
// run of that call is recognised; createScript's cn plays that part for
// Create until Create's second step removes it). Empty fields are left
// out. Readers accept hashes with and without sv; SchemaVersion
// and MigrateSchemaV2 (migrate.go) describe the versions.
//
// The epochs hash maps "g" (global), "t:<tenant>" and
// "u:<tenant>:<subject>" to not-before instants in Unix nanoseconds; "v"
// counts raises, so the loop re-reads the hash only when it moved; "boot"
// is a random marker whose disappearance means Redis lost its data.
//
// With WithMaxLifetime(d) no session lives longer than d, so an epoch
// older than d (plus session.EpochGrace) covers only sessions that have
// expired: the store forgets such epochs, from its mirror at every sweep
// and from the hash (one store at a time, under the forget lease, every
// 10 minutes, in HSCAN steps of about a thousand fields); a
// reconciliation skips any it still reads. The hash, the mirrors and a
// full reconciliation read are then bounded by the revocations of the
// last d. Deleting forgotten fields does not move "v".
//
// Ids, tenants and subjects are escaped (percent-encoding of '%', '{', '}'
// and ':'), so that no value can close a hash tag early or forge a
// separator; ordinary values stay readable.
//
// # Hash tags and Redis Cluster
//
// Redis Cluster places a key by the text inside its braces. Every script
// touches one slot: a session's scripts (create, rotate, revoke, and the
// per-session step of mass revocation) touch only its hash, tagged by its
// id; the index script touches the tenant's two index sets, both tagged by
// the tenant; the epoch script touches only the epochs hash.
//
// Nothing updates a session and its index entries in one step. The
// indexes serve only List and the clean-up of mass revocation; they are
// written in a second command, ordered so that a failure leaves at worst
// an index entry whose session is gone, which List and revocation drop
// when they meet it, and trimmed by their expiry scores so they do not
// grow. Mass revocation takes effect through the epochs, never through the
// indexes. Tagging sessions by tenant instead would keep a session and its
// index entries in one slot, but Check, Get and Rotate know only the id
// and would have to look the tenant up first; and one large tenant would
// load one node.
package redisstore
