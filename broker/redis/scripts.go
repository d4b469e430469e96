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

// luaCommit is shared by the publish and commit scripts. It makes
// publication off of epoch visible: it raises the channel's committed
// offset to off, which also reveals every earlier offset still hidden (the
// relay fills them from history), and sends the publication to every node.
// The entry in history is sent as stored; a channel that keeps no history
// sends body under id, or under the current time when id is empty. Nothing
// happens if off is visible already, or if the channel is no longer in
// epoch or does not hold off (a failover lost it before it was committed).
// It returns 1 when it committed off, 0 when off was visible already, and
// -1 when the channel lost it.
const luaCommit = `
local function commit(meta, hist, epoch, off, pubsub, id, body)
  local m = redis.call('HMGET', meta, 'e', 'o', 'c')
  if m[1] ~= epoch or tonumber(m[2]) < off then return -1 end
  if off <= tonumber(m[3] or m[2]) then return 0 end
  redis.call('HSET', meta, 'c', string.format('%d', off))
  local o = string.format('%d', off)
  local e = redis.call('XRANGE', hist, o, o)[1]
  if e then
    id, body = e[1], e[2][2]
  elseif id == '' then
    id = o .. '-' .. string.format('%d', nowms())
  end
  redis.call('PUBLISH', pubsub, '1 ' .. epoch .. ' ' .. id .. ' ' .. body)
  return 1
end
`

// publishScript stores one publication and, unless Publish must first wait
// for replicas, commits it (see luaCommit).
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
// It returns {epoch, offset, duplicate (0 or 1), replicas, id}: replicas is
// the number of online replicas of this primary with 'a', and -1
// otherwise; id is the new entry's ID while it is left hidden, and empty
// for a duplicate or once committed. With 'n', or
// 'a' and a replica online, the publication is stored and left hidden:
// Publish waits for the replicas and then runs commitScript. Otherwise it
// is committed here, in the same atomic step that stored it.
const publishScript = luaOldest + luaCommit + `
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
local hold = ARGV[8] == 'n' or (ARGV[8] == 'a' and replicas > 0)

-- 1. The epoch. A channel without one is new, or Redis lost it (a restart
-- without persistence, an eviction): it starts a new epoch, and nothing
-- left of an older life may be read as part of this one.
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0, 'c', 0)
elseif not redis.call('HGET', meta, 'c') then
  -- Stored by an earlier version, which committed as it stored.
  redis.call('HSET', meta, 'c', redis.call('HGET', meta, 'o'))
end

-- 2. A key seen in this epoch within its window: the first position, and
-- nothing stored. A key from an older epoch no longer counts. The first
-- request may have been refused and left hidden: this one commits it, at
-- once or once the replicas have it.
if idem then
  local seen = redis.call('GET', idem)
  if seen then
    local e, o = string.match(seen, '^(%S+) (%d+)$')
    if e == epoch then
      o = tonumber(o)
      if hold then
        -- Publish waits for replicas to have everything this connection
        -- wrote, and the first request may have been written on another:
        -- rewriting the key (as it is) puts this connection's last write
        -- after the first request's, which Redis replicates in order.
        redis.call('SET', idem, seen, 'KEEPTTL')
      else
        commit(meta, hist, epoch, o, ARGV[2], '', ARGV[3])
      end
      return {epoch, o, 1, replicas, ''}
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

-- 5. Remember the key, keep the channel's epoch and offset alive and,
-- unless the replicas must have it first, commit: live delivery and
-- history then show it from the same atomic step on.
if idem then
  redis.call('SET', idem, epoch .. ' ' .. string.format('%d', offset), 'PX', ARGV[6])
end
local metaTTL = tonumber(ARGV[7])
if metaTTL > 0 then redis.call('PEXPIRE', meta, ARGV[7]) else redis.call('PERSIST', meta) end
if not hold then
  commit(meta, hist, epoch, offset, ARGV[2], id, ARGV[3])
  id = ''
end
return {epoch, offset, 0, replicas, id}
`

// commitScript commits a publication that publishScript stored and left
// hidden, once the replicas Publish waited for have it (see luaCommit).
//
//	KEYS[1] meta hash, KEYS[2] history stream
//	ARGV[1] epoch, ARGV[2] offset, ARGV[3] pub/sub channel
//	ARGV[4] entry ID (empty for a duplicate), ARGV[5] body
//
// It returns luaCommit's answer.
const commitScript = luaOldest + luaCommit + `
return commit(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5])
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
// It returns {epoch, latest offset, earliest offset, id, body, id, body, …},
// where the latest offset is the committed one: nothing stored after it is
// read.
const historyScript = luaOldest + `
local meta, hist = KEYS[1], KEYS[2]
local idle = tonumber(ARGV[6])
-- Only what is committed may be read: top is the committed offset, and a
-- publication stored after it waits for its replicas, hidden.
local m = redis.call('HMGET', meta, 'e', 'o', 'h', 'c')
local epoch, top, ttl = m[1], tonumber(m[4] or m[2]), tonumber(m[3]) or 0
if not epoch then
  -- Asking for history starts the channel's epoch, so a subscriber of a
  -- channel nobody published to yet has a position to resume from.
  epoch, top, ttl = ARGV[1], 0, 0
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0, 'c', 0)
  redis.call('PEXPIRE', meta, ARGV[6])
else
  -- A read keeps the epoch for at least another idle period, as memory's
  -- idle clock does, but never shortens a longer life.
  local pttl = redis.call('PTTL', meta)
  if pttl >= 0 and pttl < idle then redis.call('PEXPIRE', meta, ARGV[6]) end
end

local first = math.min(oldest(hist, nowms(), ttl) or top + 1, top + 1)
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

local start, stop = string.format('%d', from), string.format('%d', top)
local entries
if ARGV[5] == '1' then
  if limit > 0 then
    entries = redis.call('XREVRANGE', hist, stop, start, 'COUNT', ARGV[4])
  else
    entries = redis.call('XREVRANGE', hist, stop, start)
  end
elseif limit > 0 then
  entries = redis.call('XRANGE', hist, start, stop, 'COUNT', ARGV[4])
else
  entries = redis.call('XRANGE', hist, start, stop)
end
for _, e in ipairs(entries) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
`

// regressScript moves a channel whose history went backwards to a new
// epoch: a node delivered offset ARGV[2] of epoch ARGV[1], and the channel
// is still in that epoch but its committed offset is below it — the
// primary that committed it lost it (it acknowledged alone, and a replica
// that lacks it took over). Left alone, the channel would give the lost
// offsets to new publications that every subscriber drops as repeats.
//
//	KEYS[1] meta hash, KEYS[2] history stream
//	ARGV[1] epoch, ARGV[2] offset delivered, ARGV[3] new epoch
//	ARGV[4] pub/sub channel, ARGV[5] when the delivered one was stored, Unix ms
//
// If the channel still stores the offset, hidden (committed on the old
// primary after a replica confirmed it, and the commit itself lost), it
// is committed: nothing was lost. Otherwise the channel starts the new
// epoch. The committed publications stored after ARGV[5] came after the
// loss, and nobody saw them under their old offsets: they move to the new
// epoch, in order, at offsets from 1, and the last of them is sent live so
// every node turns to the new epoch now. The rest of the old epoch is
// dropped. Subscribers are told of the epoch change. Anything else — the
// channel moved on, or reaches the offset — changes nothing. It returns
// the number of publications moved, or -1 when the epoch stayed.
const regressScript = luaOldest + luaCommit + `
local meta, hist = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'e', 'o', 'c', 'h')
local last = tonumber(ARGV[2])
local top = tonumber(m[3] or m[2])
if m[1] ~= ARGV[1] or top >= last then return -1 end
if tonumber(m[2]) >= last then
  local o = string.format('%d', last)
  local e = redis.call('XRANGE', hist, o, o)[1]
  if e then
    commit(meta, hist, ARGV[1], last, ARGV[4], e[1], e[2][2])
  else
    redis.call('HSET', meta, 'c', o)
  end
  return -1
end
local after = tonumber(ARGV[5])
local keep = {}
for _, e in ipairs(redis.call('XRANGE', hist, '-', string.format('%d', top))) do
  local ms = tonumber(string.match(e[1], '^%d+-(%d+)$'))
  if ms > after then keep[#keep + 1] = {ms, e[2][2]} end
end
redis.call('DEL', hist)
local id
for i, k in ipairs(keep) do
  id = string.format('%d-%d', i, k[1])
  redis.call('XADD', hist, id, 'b', k[2])
end
local n = string.format('%d', #keep)
redis.call('HSET', meta, 'e', ARGV[3], 'o', n, 'c', n)
local ttl = tonumber(m[4]) or 0
if #keep > 0 then
  if ttl > 0 then redis.call('PEXPIRE', hist, m[4]) end
  redis.call('PUBLISH', ARGV[4], '1 ' .. ARGV[3] .. ' ' .. id .. ' ' .. keep[#keep][2])
end
return #keep
`

// scripts are the compiled helpers; rueidis sends EVALSHA and falls back to
// EVAL after a restart emptied the server's script cache. Publishing is
// not retried on a broken connection, since the script may have run;
// reading is, since running it twice changes nothing a reader can see.
var (
	luaPublish = rueidis.NewLuaScript(publishScript)
	luaHistory = rueidis.NewLuaScriptRetryable(historyScript)
	// Running the regress script twice changes nothing the first run did
	// not: the second finds the channel in the new epoch.
	luaRegress = rueidis.NewLuaScriptRetryable(regressScript)
)
