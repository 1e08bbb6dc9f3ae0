package redisstore

import (
	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/redislua"
)

// luaCmp compares decimal time strings in scripts; see redislua.Cmp.
const luaCmp = redislua.Cmp

// createScript records a session unless one with the same id exists that
// has not expired by the new one's CreatedAt. The hash holds the call's
// random token (cn) until Create's next step removes it, so that a second
// run of the same call (go-redis sends a command again when its
// connection drops after the command reached Redis) finds the session
// this call wrote and reports it created, not taken.
//
//	KEYS[1] session; ARGV[1] CreatedAt ns; ARGV[2] PEXPIREAT ms;
//	ARGV[3] the call's token; ARGV[4...] field, value...
//	returns 1 when created (by this call), 0 when the id is taken
var createScript = redis.NewScript(luaCmp + `
local h = redis.call('HMGET', KEYS[1], 'exp', 'cn')
if h[1] and cmp(h[1], ARGV[1]) > 0 then
  if h[2] == ARGV[3] then return 1 end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'cn', ARGV[3], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

// rotateScript is the atomic refresh: compare the presented refresh id with
// the current one and either swap it or revoke the session, in one step on
// the server. A revoked session stays as a tombstone (rvk) until it
// expires, so every later use of any of its refresh ids is reuse too.
//
// The revocation for reuse is published (ARGV[6], ARGV[7]) in the same
// step, so it never happens without its message (propagate.go); where the
// log is in the session's slot (every deployment but a Cluster), it is
// logged in that step too (KEYS[2], ARGV[9..11]), so it never happens
// without its log entry either, whatever instant its writer dies at.
//
// go-redis sends a command again when its connection drops after the
// command reached Redis, so the script may run twice for one call. The
// caller's next refresh id is random and new, so a second run recognises
// the first by it and answers as the first did, changing nothing more:
// after a swap, the stored refresh id, last-seen time and expiry are the
// ones this call installs (reuse would revoke the session of a legitimate
// refresh); after a revocation for reuse, rvc holds the next id of the
// call that revoked (its fields are returned again, so that the caller
// still logs the revocation). Only the current refresh id, or this call
// repeated, swaps; any other presented id is reuse.
//
//	KEYS[1] session; ARGV[1] presented; ARGV[2] next; ARGV[3] now ns;
//	ARGV[4] new ExpiresAt ns; ARGV[5] its PEXPIREAT ms; ARGV[6] the
//	revocations channel; ARGV[7] the message of a revocation for reuse;
//	ARGV[8] the earliest CreatedAt ns that may live until the new
//	ExpiresAt ("" for no bound: see WithMaxLifetime); KEYS[2], when
//	given, the revocation log, with ARGV[9] its MINID, ARGV[10] the
//	session id and ARGV[11] when the revocation was made (ns)
//	returns {1, fields...} rotated; {-1, fields...} reuse, now revoked;
//	{-1} reuse of a session already revoked for reuse; {0} not live;
//	{-2} the new ExpiresAt is beyond the session's lifetime, nothing changed
var rotateScript = redis.NewScript(luaCmp + `
local h = redis.call('HMGET', KEYS[1], 'rid', 'exp', 'rvk', 'lst', 'rvc', 'crt')
if not h[2] then return {0} end
if cmp(h[2], ARGV[3]) <= 0 then
  redis.call('DEL', KEYS[1])
  return {0}
end
local mine = ARGV[2] ~= ''
if h[3] then
  if mine and h[5] == ARGV[2] then return {-1, redis.call('HGETALL', KEYS[1])} end
  return {-1}
end
local again = mine and h[1] == ARGV[2] and h[4] == ARGV[3] and h[2] == ARGV[4]
if h[1] ~= ARGV[1] and not again then
  redis.call('HSET', KEYS[1], 'rvk', '1')
  if mine then redis.call('HSET', KEYS[1], 'rvc', ARGV[2]) end
  redis.call('HDEL', KEYS[1], 'rid')
  redis.call('PUBLISH', ARGV[6], ARGV[7])
  if KEYS[2] then
    redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[9], '*', 'id', ARGV[10], 'at', ARGV[11])
  end
  return {-1, redis.call('HGETALL', KEYS[1])}
end
if ARGV[8] and ARGV[8] ~= '' and h[6] and cmp(h[6], ARGV[8]) < 0 then return {-2} end
redis.call('HSET', KEYS[1], 'rid', ARGV[2], 'lst', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return {1, redis.call('HGETALL', KEYS[1])}
`)

// revokeScript ends one session. A tombstone (revoked for reuse) stays, so
// that a later Rotate still reports reuse. The revocation is published
// in the same step, whatever Redis held: another instance's mirror may
// hold the session even when Redis no longer does. Run again for one call
// (go-redis after a lost reply), it publishes the message again, which
// changes nothing where it arrives, and finds nothing to delete: Revoke
// then reports ErrNotFound for a revocation that took effect, is logged
// and was published.
//
//	KEYS[1] session; ARGV[1] now ns; ARGV[2] the revocations channel;
//	ARGV[3] the message
//	returns {0} when there was nothing to delete, else
//	{live (1 or 0), tenant, subject, CreatedAt ns}
var revokeScript = redis.NewScript(luaCmp + `
redis.call('PUBLISH', ARGV[2], ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'exp', 'rvk', 'ten', 'sub', 'crt')
if not h[1] or h[2] then return {0} end
redis.call('DEL', KEYS[1])
local live = 1
if cmp(h[1], ARGV[1]) <= 0 then live = 0 end
return {live, h[3] or '', h[4] or '', h[5]}
`)

// coveredScript is mass revocation's clean-up of one session: delete it if
// it was created before the revocation instant. Run again for one call,
// it finds the session gone and it is not counted: the count may read low,
// never high.
//
//	KEYS[1] session; ARGV[1] the revocation instant ns
//	returns {-1} gone already; {-2} created at or after the instant, kept;
//	{live at the instant (1 or 0), subject, CreatedAt ns} deleted
var coveredScript = redis.NewScript(luaCmp + `
local h = redis.call('HMGET', KEYS[1], 'crt', 'exp', 'rvk', 'sub')
if not h[1] then return {-1} end
if cmp(h[1], ARGV[1]) >= 0 then return {-2} end
redis.call('DEL', KEYS[1])
local live = 1
if h[3] or cmp(h[2], ARGV[1]) <= 0 then live = 0 end
return {live, h[4] or '', h[1]}
`)

// indexScript adds or refreshes a session in its tenant's two index sets
// (same slot: both are tagged by the tenant), drops entries that expired
// by now, and keeps each set's own expiry at its last member's, so an idle
// subject's set disappears on its own.
//
//	KEYS[1] tenant index; KEYS[2] subject index; ARGV[1] expiry ms (the
//	score); ARGV[2] id; ARGV[3] now ms; ARGV[4] "xx" to only update a
//	member that is there (Rotate), "" to add (Create)
var indexScript = redis.NewScript(`
for i = 1, 2 do
  if ARGV[4] == 'xx' then
    redis.call('ZADD', KEYS[i], 'XX', 'GT', ARGV[1], ARGV[2])
  else
    redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[3])
  local at = redis.call('PEXPIRETIME', KEYS[i])
  if at == -1 or (at >= 0 and at < tonumber(ARGV[1])) then
    redis.call('PEXPIREAT', KEYS[i], ARGV[1])
  end
end
return 1
`)

// forgetScript deletes, from one HSCAN step of the epochs hash, every
// epoch before a cut-off (the version and boot markers are not epochs).
// The version does not move: no store has to read the hash again, as each
// forgets the same epochs from its mirror on its own. An epoch raised again
// after it was forgotten is written anew by epochScript.
//
//	KEYS[1] epochs; ARGV[1] the HSCAN cursor; ARGV[2] the cut-off ns;
//	ARGV[3] the COUNT hint
//	returns {next cursor, fields deleted}
var forgetScript = redis.NewScript(luaCmp + `
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[3])
local kv, n = r[2], 0
for i = 1, #kv, 2 do
  local f = kv[i]
  if f ~= 'v' and f ~= 'boot' and cmp(kv[i + 1], ARGV[2]) < 0 then
    redis.call('HDEL', KEYS[1], f)
    n = n + 1
  end
end
return {r[1], n}
`)

// epochScript raises one not-before epoch; it never lowers one. A raise
// is published in the same step. Run again for one call, it finds the
// instant already there and changes and publishes nothing more (v is
// raised once); it returns the instant itself, so revoke counts no session
// as this call's: the count may read low, never high.
//
//	KEYS[1] epochs; ARGV[1] field; ARGV[2] instant ns; ARGV[3] the
//	revocations channel; ARGV[4] the message
//	returns the field's previous value, or false when it had none
var epochScript = redis.NewScript(luaCmp + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cmp(cur, ARGV[2]) >= 0 then return cur end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return cur
`)
