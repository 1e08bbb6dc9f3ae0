// Package redisstore is the apikey.Store on Redis (7.0 or later), shared
// by every instance of the server and kept across restarts. It is the only
// apikey code that imports go-redis.
//
// The caller owns the client; Close leaves it open. Every Redis error is
// reported as apikey.ErrUnavailable: callers fail closed.
//
// # Key layout
//
// With P the prefix (WithPrefix, default "relayauth:"), T a tenant, I a
// key id and H a hash in hex:
//
//	P ak:{T}:k:I   hash: one key record
//	P ak:{T}:ids   set: the ids of the tenant's keys
//	P ak:{T}:names hash: name → id, the tenant's names
//	P ak:id:{I}    string: T, the tenant of key I
//	P ak:h:{H}     string: "I T", the key whose current or previous hash is H
//	P ak:tenants   set: every tenant that has had a key
//	P ak:{T}:deleted:I  string: "<token> <doc>", left by a Delete of key I for 5 minutes
//	P apikey-changed  stream: key changes (fields id, at: Unix ns), kept 15 minutes
//	P apikey-changes  pub/sub channel (not a key): "<id> <at>" per change
//
// A record has the fields doc (the apikey.Key as JSON, without
// LastUsedAt), name, ver (a counter every Update raises), lu (LastUsedAt
// as decimal Unix nanoseconds, absent until the first use), and ct and wt
// (random tokens of the Create call and of the last Update call that
// wrote it; see "Retried commands"). Nothing but a deletion marker has a
// TTL: revoked and expired keys stay, for audit, until Delete; the
// Manager judges expiry. Tenants, ids and hashes are in
// alphabets without braces (apikey.Key.Validate, apikey.ValidID), so
// they go into keys as they are and cannot end a hash tag early.
//
// # Hash tags and Redis Cluster
//
// The record and the tenant's two indexes are tagged by the tenant, so
// they share a slot and every change to them is one Lua script: Create
// checks the name and writes record, id set and name index in one step;
// Update is a compare-and-swap on ver that also moves the name; Delete
// removes all three. Within a tenant the data is always consistent.
//
// Lookups by id and by hash cannot know the tenant, so their indexes are
// tagged by what they are looked up by, in their own slots. Get is two
// single-slot steps: the id index gives the tenant, then the record is
// read. GetByHash is two as well: the hash index gives id and tenant,
// then the record is read and must hold the hash as its current or
// previous one. The store caches each id's tenant (it never changes), so
// Get and Update usually skip the first step; the Manager serves
// Verify from memory, so GetByHash runs only for keys it has not seen.
//
// Writes that span slots are ordered so that a failure or crash between
// steps leaves only harmless leftovers: Create first claims the id and
// hash index entries (SET NX, which is what makes ids and hashes unique;
// an entry that already holds this key's value is accepted, but never
// taken back),
// then writes the tenant's script, and takes the claims back if that
// fails; Update claims a new hash before its compare-and-swap and drops
// the hash that left the record after it; Delete drops the index entries
// after the record. A leftover index entry points at a record that is gone
// or no longer holds that hash, and every lookup checks the record, so it
// answers ErrNotFound; since ids and hashes are random, a leftover never
// blocks a real key.
//
// # Retried commands
//
// go-redis (by default, and as the server builds its client) sends a
// command again when its connection drops or a read times out after the
// command reached Redis, so a write may run twice for one call. Each
// write recognises its own first run and answers as it did: a claim (SET
// NX GET) finds the value it writes; Create's and Update's scripts find
// the record holding the call's token (ct, wt), so that a retried
// compare-and-swap is not taken for a lost race, after which the
// caller's change would be applied twice; Delete's finds its marker, and
// Delete takes the index entries back and the Manager announces the
// deletion as after one run. The token, never the content, identifies a
// call: another Update that computed the same record from the same
// version is another change, and still loses the race.
//
// # Change propagation
//
// The store is an apikey.Notifier. A Manager on it announces each
// revocation, rotation and deletion it makes (Notify: one script appends
// to the change log and publishes on the channel, so neither happens
// without the other), subscribes to the channel (Subscribe, which
// reconnects on its own and pings a quiet connection every second) and
// re-reads every key it is told of; it also reads the log from its cursor
// every reconciliation (Changes). Stream ids are Redis's own clock, so
// the Managers' clock skew does not matter. The log is one key and
// PUBLISH has none, so this works unchanged on Redis Cluster, which
// broadcasts classic PUBLISH to every node.
//
// The log only has to cover the gap between two reconciliations. A
// Manager that falls further behind than its 15 minutes gets
// apikey.ErrChangesLost and reloads every key. Changes knows it from the
// cursor, which holds the log's count of entries ever added
// (entries-added) as well as a stream id: trimming takes the oldest
// entries, so it took one the reader never read only if nothing up to the
// cursor is left and the log holds fewer entries than were added since.
// (Redis's max-deleted-entry-id, which XDEL moves, is checked too, but
// trimming does not move it.) A log that is gone, or has fewer entries
// ever added than the cursor saw, is a Redis that lost its data: changes
// lost as well.
//
// The record is in its tenant's slot and the log in its own, and on Redis
// Cluster a script may only touch one slot (a log per tenant would make
// every reconciliation read every tenant's), so no one script can write a
// change and its log entry. The Manager therefore logs the change's intent
// first (Intend: the same entry, with k i, and the same message), writes
// only once that went through, and announces the written change after
// (Notify, retried until it goes through). Every Manager re-reads a key on
// every reconciliation for apikey.IntentWindow after it learned of an
// entry of it, and the writer gives up on a write it could not send within
// apikey.WriteWindow of starting the intent: a change Redis recorded
// reaches every Manager whatever instant its writer died at, without
// Notify (TestChangeSurvivesWriterDeath).
package redisstore
