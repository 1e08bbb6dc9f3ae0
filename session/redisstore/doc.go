// Package redisstore is the session.Store backed by Redis (7.0 or later),
// shared by every instance of the server and kept across restarts. It is
// the only session code that imports go-redis.
//
// Redis holds the truth. Every write is a server-side script, so Create
// and Rotate are atomic on the server: of concurrent refreshes with one
// token exactly one wins, and a reused refresh token revokes its session
// in the same step.
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
// security.md 14. A background loop reads the epochs from Redis every
// freshness/4 (WithFreshness, default 5s). When the last successful read
// is older than the freshness window (judged every freshness/16), Check
// answers ErrUnavailable for every id, known or not, until Redis answers
// again; it recovers on its own. Every other method reports a Redis error
// as ErrUnavailable. If Redis comes back without its data (the boot marker
// in the epochs hash is gone), the mirror forgets every session.
//
// # Revocation SLA
//
// Revocations made through this store take effect in its mirror before
// the call returns. Mass revocations made by another instance reach this
// one within freshness/4 (the next epoch read), and ErrUnavailable covers
// the case where that read fails. Single-session revocations made by
// another instance are not pushed to this mirror yet (pub/sub is
// planned); until then such a revocation reaches another instance that
// has the session cached only when its cached entry expires.
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
//	P schema                      string: the layout version, "2" (none: version 1)
//	P migration:schema-v2:cursor  string: where an unfinished MigrateSchemaV2 stopped
//
// A session hash has the fields sv (the layout version, "2"; absent in
// version 1), sub, ten, rol and sco (roles and scopes as
// length-prefixed lists), crt, lst and exp (CreatedAt, LastSeenAt and
// ExpiresAt as decimal Unix nanoseconds: exact, unlike float scores), ip,
// ua, rid (the current refresh id) and rvk ("1" on a session revoked for
// refresh-token reuse, kept as a tombstone until it expires). Empty fields
// are left out. Readers accept hashes with and without sv; SchemaVersion
// and MigrateSchemaV2 (migrate.go) describe the versions.
//
// The epochs hash maps "g" (global), "t:<tenant>" and
// "u:<tenant>:<subject>" to not-before instants in Unix nanoseconds; "v"
// counts raises, so the loop re-reads the hash only when it moved; "boot"
// is a random marker whose disappearance means Redis lost its data.
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
