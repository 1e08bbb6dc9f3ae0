package redisstore

import (
	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/redislua"
)

// luaCmp compares decimal time strings in scripts; see redislua.Cmp.
const luaCmp = redislua.Cmp

// createScript writes a new record and its tenant indexes, unless the id
// has a record or the name is taken. The record keeps the call's random
// token (ct), so that a second run of the same call (go-redis sends a
// command again when its connection drops after the command reached
// Redis) finds the record this call wrote and reports it created, not
// taken.
//
//	KEYS[1] record; KEYS[2] ids; KEYS[3] names
//	ARGV[1] id; ARGV[2] name; ARGV[3] doc; ARGV[4] lu or ""; ARGV[5] the call's token
//	returns 1 created (by this call); 0 id taken; -1 name taken
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'ct') == ARGV[5] then return 1 end
  return 0
end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'name', ARGV[2], 'ver', '1', 'ct', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'lu', ARGV[4]) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return 1
`)

// updateScript is Update's compare-and-swap: it writes the new document
// only if ver is still the one the caller read, moves the name in the
// tenant's index, and keeps the later of the stored and the new lu.
//
// Each write stores its Update call's random token (wt). A record whose
// wt is this call's was written by this call: the script has run before
// for it (go-redis sent it again after a lost reply), and it answers as
// that run did, not as a lost race, after which Update would apply the
// caller's function a second time to its own result. The token, not the
// document, tells calls apart: another Update that read the same ver
// and computed the same document is another change, and still loses.
//
//	KEYS[1] record; KEYS[2] names
//	ARGV[1] expected ver; ARGV[2] id; ARGV[3] new name; ARGV[4] doc; ARGV[5] lu or "";
//	ARGV[6] the call's token
//	returns {1, lu or ""} written (by this call); {0} ver moved (retry); {-1} name taken; {-2} gone
var updateScript = redis.NewScript(luaCmp + `
local h = redis.call('HMGET', KEYS[1], 'ver', 'name', 'lu', 'wt')
if not h[1] then return {-2} end
local lu = h[3]
if ARGV[5] ~= '' and (not lu or cmp(lu, ARGV[5]) < 0) then lu = ARGV[5] end
if h[4] == ARGV[6] then return {1, lu or ''} end
if h[1] ~= ARGV[1] then return {0} end
if h[2] ~= ARGV[3] then
  local owner = redis.call('HGET', KEYS[2], ARGV[3])
  if owner and owner ~= ARGV[2] then return {-1} end
  if redis.call('HGET', KEYS[2], h[2]) == ARGV[2] then redis.call('HDEL', KEYS[2], h[2]) end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
end
redis.call('HSET', KEYS[1], 'doc', ARGV[4], 'name', ARGV[3], 'ver', tostring(tonumber(h[1]) + 1), 'wt', ARGV[6])
if lu then redis.call('HSET', KEYS[1], 'lu', lu) end
return {1, lu or ''}
`)

// touchScript raises lu of records of one tenant; it never lowers it and
// skips records that are gone. It does not change ver: a last-used time
// is not a change an Update could lose (updateScript keeps the later lu).
// Run twice, it changes nothing more.
//
//	KEYS records; ARGV the matching times
//	returns how many records moved
var touchScript = redis.NewScript(luaCmp + `
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local lu = redis.call('HGET', key, 'lu')
    if not lu or cmp(lu, ARGV[i]) < 0 then
      redis.call('HSET', key, 'lu', ARGV[i])
      n = n + 1
    end
  end
end
return n
`)

// deleteScript removes a record and its tenant index entries. It leaves
// a marker for a few minutes, in the tenant's slot, naming the call's
// random token and holding the doc, so that a second run of the same call
// (go-redis sent it again after a lost reply) answers as the first did:
// Delete then takes the index entries back and the Manager announces the
// deletion, which it does not do for a key that was not there.
//
//	KEYS[1] record; KEYS[2] ids; KEYS[3] names; KEYS[4] the deletion marker
//	ARGV[1] id; ARGV[2] the call's token; ARGV[3] the marker's lifetime ms
//	returns the record's doc, or false when there was none
var deleteScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'doc', 'name')
if not h[1] then
  local m = redis.call('GET', KEYS[4])
  local mine = ARGV[2] .. ' '
  if m and string.sub(m, 1, #mine) == mine then return string.sub(m, #mine + 1) end
  return false
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[3], h[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], h[2]) end
redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. h[1], 'PX', ARGV[3])
return h[1]
`)

// releaseScript deletes an index entry if it still holds the value the
// caller wrote, so taking back a claim never removes someone else's. Run
// twice, it finds nothing more to delete.
//
//	KEYS[1] index entry; ARGV[1] value
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
