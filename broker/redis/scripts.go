package redis

import "github.com/redis/rueidis"

// The Lua scripts are the broker's whole data model: every change to a
// channel's keys happens inside one of them, so Redis runs it atomically
// and every node sees a channel move from one consistent state to the
// next. Numbers stay below 2^53, where Lua's doubles are exact: offsets
// count publications and times are Unix milliseconds. string.format('%d')
// writes them, since Lua's own number-to-string would switch to exponent
// notation past 10^14.

// luaOldest is shared by both scripts. It drops publications older than ttl
// milliseconds from the front of a history, as the memory broker does, and
// returns the offset of the oldest publication kept, or nil when none is.
// Only the front is ever dropped, so a history stays one run of offsets
// even if the clock stepped back between two publications.
const luaOldest = `
local function oldest(hist, now, ttl)
  while true do
    local first = redis.call('XRANGE', hist, '-', '+', 'COUNT', 1)[1]
    if not first then return nil end
    local o, t = string.match(first[1], '^(%d+)-(%d+)$')
    o = tonumber(o)
    if ttl <= 0 or tonumber(t) > now - ttl then return o end
    redis.call('XTRIM', hist, 'MINID', string.format('%d', o + 1))
  end
end

local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// publishScript appends one publication.
//
//	KEYS[1] meta hash, KEYS[2] history stream, KEYS[3] idempotency key (only with a key)
//	ARGV[1] epoch to use if the channel has none
//	ARGV[2] pub/sub channel
//	ARGV[3] body
//	ARGV[4] history size, ARGV[5] history TTL ms (0: none), ARGV[6] key TTL ms
//	ARGV[7] meta TTL ms (0: no expiry)
//	ARGV[8] '' to acknowledge on the primary alone; 'n' when Publish waits
//	        for a number of replicas it knows; 'a' when it waits for one if
//	        the primary has a replica (see Config.MinReplicas)
//
// It returns {epoch, offset, duplicate (0 or 1), replicas}: replicas is the
// number of online replicas of this primary with 'a', and -1 otherwise.
const publishScript = luaOldest + `
local meta, hist, idem = KEYS[1], KEYS[2], KEYS[3]

-- 0. How many replicas this primary streams its writes to, for Publish to
-- wait for: one still loading its first copy (state=wait_bgsave,
-- send_bulk) confirms nothing until that is done.
local replicas = -1
if ARGV[8] == 'a' then
  replicas = 0
  for _ in string.gmatch(redis.call('INFO', 'replication'), 'state=online') do
    replicas = replicas + 1
  end
end

-- 1. The epoch. A channel without one is new, or Redis lost it (a restart
-- without persistence, an eviction): it starts a new epoch, and nothing
-- left of an older life may be read as part of this one.
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0)
end

-- 2. A key seen in this epoch within its window: the first position, and
-- nothing stored or sent. A key from an older epoch no longer counts.
if idem then
  local seen = redis.call('GET', idem)
  if seen then
    local e, o = string.match(seen, '^(%S+) (%d+)$')
    if e == epoch then
      -- Publish waits for replicas to have everything this connection
      -- wrote, and the first request may have been written on another:
      -- rewriting the key (as it is) puts this connection's last write
      -- after the first request's, which Redis replicates in order.
      if ARGV[8] ~= '' then redis.call('SET', idem, seen, 'KEEPTTL') end
      return {epoch, tonumber(o), 1, replicas}
    end
  end
end

-- 3. The next offset, gapless because nothing else runs meanwhile.
local now = nowms()
local offset = redis.call('HINCRBY', meta, 'o', 1)
local id = string.format('%d-%d', offset, now)
local size, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('HSET', meta, 'h', ARGV[5])

-- 4. History: drop what aged out, append under the offset, trim to size,
-- and let the whole stream expire once its newest entry has.
if size > 0 then
  oldest(hist, now, ttl)
  local added = redis.pcall('XADD', hist, 'MAXLEN', size, id, 'b', ARGV[3])
  if type(added) == 'table' and added.err then
    -- The stream holds an ID at or past this offset, which only a hand-
    -- edited or partly restored keyspace can do: keep offsets rising and
    -- start the history over rather than fail the publish.
    redis.call('DEL', hist)
    redis.call('XADD', hist, 'MAXLEN', size, id, 'b', ARGV[3])
  end
  if ttl > 0 then redis.call('PEXPIRE', hist, ARGV[5]) else redis.call('PERSIST', hist) end
else
  redis.call('DEL', hist)
end

-- 5. Remember the key, keep the channel's epoch and offset alive, and
-- send the publication to every node, in the same atomic step that
-- stored it, so live delivery and history agree.
if idem then
  redis.call('SET', idem, epoch .. ' ' .. string.format('%d', offset), 'PX', ARGV[6])
end
local metaTTL = tonumber(ARGV[7])
if metaTTL > 0 then redis.call('PEXPIRE', meta, ARGV[7]) else redis.call('PERSIST', meta) end
redis.call('PUBLISH', ARGV[2], '1 ' .. epoch .. ' ' .. id .. ' ' .. ARGV[3])
return {epoch, offset, 0, replicas}
`

// historyScript reads a channel's positions and, as asked, some of its
// history.
//
//	KEYS[1] meta hash, KEYS[2] history stream
//	ARGV[1] epoch to use if the channel has none
//	ARGV[2] since epoch, ARGV[3] since offset ('' for no since)
//	ARGV[4] limit (negative: all), ARGV[5] '1' for newest first
//	ARGV[6] idle TTL ms
//
// It returns {epoch, latest offset, earliest offset, id, body, id, body, …}.
const historyScript = luaOldest + `
local meta, hist = KEYS[1], KEYS[2]
local idle = tonumber(ARGV[6])
local m = redis.call('HMGET', meta, 'e', 'o', 'h')
local epoch, top, ttl = m[1], tonumber(m[2]), tonumber(m[3]) or 0
if not epoch then
  -- Asking for history starts the channel's epoch, so a subscriber of a
  -- channel nobody published to yet has a position to resume from.
  epoch, top, ttl = ARGV[1], 0, 0
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', meta, ARGV[6])
else
  -- A read keeps the epoch for at least another idle period, as memory's
  -- idle clock does, but never shortens a longer life.
  local pttl = redis.call('PTTL', meta)
  if pttl >= 0 and pttl < idle then redis.call('PEXPIRE', meta, ARGV[6]) end
end

local first = oldest(hist, nowms(), ttl) or top + 1
local out = {epoch, top, first}
local limit = tonumber(ARGV[4])
if limit == 0 then return out end
local from = first
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[3])
  -- Compared before adding one: since may be far past 2^53.
  if ARGV[2] ~= epoch or since >= top then return out end
  from = math.max(from, since + 1)
end
if from > top then return out end

local start = string.format('%d', from)
local entries
if ARGV[5] == '1' then
  if limit > 0 then
    entries = redis.call('XREVRANGE', hist, '+', start, 'COUNT', ARGV[4])
  else
    entries = redis.call('XREVRANGE', hist, '+', start)
  end
elseif limit > 0 then
  entries = redis.call('XRANGE', hist, start, '+', 'COUNT', ARGV[4])
else
  entries = redis.call('XRANGE', hist, start, '+')
end
for _, e in ipairs(entries) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
`

// scripts are the compiled helpers; rueidis sends EVALSHA and falls back to
// EVAL after a restart emptied the server's script cache. Publishing is
// not retried on a broken connection, since the script may have run;
// reading is, since running it twice changes nothing a reader can see.
var (
	luaPublish = rueidis.NewLuaScript(publishScript)
	luaHistory = rueidis.NewLuaScriptRetryable(historyScript)
)
