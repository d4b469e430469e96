package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/stream"
)

// Presence is the Redis presence: every node sharing a Redis sees the same
// entries, and each node's Run receives every node's join and leave
// events. It satisfies hub.Presence for nodes on the Redis broker. Create
// it with NewPresence from the node's Broker, whose connections it shares;
// close the Broker when done. All methods are safe for concurrent use.
//
// A channel's entries are two keys under the channel's hash tag (so Redis
// Cluster keeps them in the channel's slot): a hash of client → ClientInfo
// JSON and a sorted set of client → expiry in Redis's own milliseconds, so
// nodes with different clocks agree on what has expired. Each change is one
// script, which also drops the channel's expired entries and announces
// their leave; the keys themselves expire a minute after their newest
// entry, so an abandoned channel costs nothing for long.
//
// Join and leave events travel on one pub/sub channel shared by all
// channels: nodes filter what they have no subscriber for. Events published
// while a node's pub/sub connection is down are not replayed to it (the
// presence lists are unaffected; only pushes are lost).
type Presence struct {
	client  rueidis.Client
	log     *slog.Logger
	tagOpen string
	events  string
	running atomic.Bool
}

// NewPresence returns the presence of the nodes that share b's Redis and
// prefix.
func NewPresence(b *Broker) *Presence {
	prefix := b.tagOpen[1 : len(b.tagOpen)-1]
	return &Presence{
		client:  b.client,
		log:     b.log,
		tagOpen: b.tagOpen,
		// Outside every channel's tag ("{prefix:"), so no channel's
		// pub/sub name can be the same.
		events: "{" + prefix + "}:presence",
	}
}

// presenceKeyGrace is how long a channel's presence keys outlive their
// newest entry, so an entry that expired is still there for the next
// script to announce its leave.
const presenceKeyGrace = time.Minute

// luaPresencePrune drops a channel's expired entries and announces each
// leave. KEYS[1] is the hash, KEYS[2] the sorted set; ev is the events
// pub/sub name, qch the channel as a JSON string.
const luaPresencePrune = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function prune(hash, zset, now, ev, qch)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
  for _, c in ipairs(gone) do
    local info = redis.call('HGET', hash, c)
    redis.call('HDEL', hash, c)
    redis.call('ZREM', zset, c)
    if info then
      redis.call('PUBLISH', ev, '{"channel":' .. qch .. ',"join":false,"client":' .. info .. '}')
    end
  end
end
`

// presenceAddScript adds or refreshes one entry.
//
//	KEYS[1] hash, KEYS[2] sorted set
//	ARGV[1] client id, ARGV[2] ClientInfo JSON, ARGV[3] TTL ms,
//	ARGV[4] events pub/sub name, ARGV[5] channel as a JSON string,
//	ARGV[6] how long the keys outlive the entry, ms
//
// It returns 1 when the entry is new (and announced), 0 for a refresh.
const presenceAddScript = luaPresencePrune + `
local now = nowms()
prune(KEYS[1], KEYS[2], now, ARGV[4], ARGV[5])
local ttl = tonumber(ARGV[3])
local new = redis.call('ZADD', KEYS[2], string.format('%d', now + ttl), ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local keep = ttl + tonumber(ARGV[6])
if redis.call('PTTL', KEYS[2]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
  redis.call('PEXPIRE', KEYS[2], keep)
end
if new == 1 then
  redis.call('PUBLISH', ARGV[4], '{"channel":' .. ARGV[5] .. ',"join":true,"client":' .. ARGV[2] .. '}')
end
return new
`

// presenceRemoveScript removes one entry.
//
//	KEYS[1] hash, KEYS[2] sorted set
//	ARGV[1] client id, ARGV[2] events pub/sub name, ARGV[3] channel as a JSON string
const presenceRemoveScript = `
local info = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
if info and removed == 1 then
  redis.call('PUBLISH', ARGV[2], '{"channel":' .. ARGV[3] .. ',"join":false,"client":' .. info .. '}')
end
return removed
`

// presenceClientsScript drops expired entries and returns the others'
// ClientInfo JSON.
//
//	KEYS[1] hash, KEYS[2] sorted set
//	ARGV[1] events pub/sub name, ARGV[2] channel as a JSON string
const presenceClientsScript = luaPresencePrune + `
prune(KEYS[1], KEYS[2], nowms(), ARGV[1], ARGV[2])
return redis.call('HVALS', KEYS[1])
`

var (
	luaPresenceAdd     = rueidis.NewLuaScript(presenceAddScript)
	luaPresenceRemove  = rueidis.NewLuaScript(presenceRemoveScript)
	luaPresenceClients = rueidis.NewLuaScript(presenceClientsScript)
)

func (p *Presence) keys(ch string) []string {
	return []string{p.tagOpen + ch + "}:presence", p.tagOpen + ch + "}:presence:exp"}
}

// quote writes a channel name as a JSON string. Channel names hold no
// character JSON must escape, but quoting properly costs nothing.
func quote(ch string) string {
	b, _ := json.Marshal(ch)
	return string(b)
}

// Add adds or refreshes an entry for ttl; a new entry is announced to
// every node.
func (p *Presence) Add(ctx context.Context, channel string, client stream.ClientInfo, ttl time.Duration) error {
	info, err := json.Marshal(client)
	if err != nil {
		return fmt.Errorf("presence add %q: %w: %w", channel, stream.ErrBadRequest, err)
	}
	args := []string{
		client.Client, string(info), strconv.FormatInt(max(millis(ttl), 1), 10),
		p.events, quote(channel), strconv.FormatInt(millis(presenceKeyGrace), 10),
	}
	if err := luaPresenceAdd.Exec(ctx, p.client, p.keys(channel), args).Error(); err != nil {
		return fmt.Errorf("presence add %q: %w", channel, classify(err))
	}
	return nil
}

// Remove removes an entry; one that was there is announced to every node.
func (p *Presence) Remove(ctx context.Context, channel, client string) error {
	args := []string{client, p.events, quote(channel)}
	if err := luaPresenceRemove.Exec(ctx, p.client, p.keys(channel), args).Error(); err != nil {
		return fmt.Errorf("presence remove %q: %w", channel, classify(err))
	}
	return nil
}

// Clients lists a channel's unexpired entries, announcing the leave of
// those it finds expired.
func (p *Presence) Clients(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	vals, err := luaPresenceClients.Exec(ctx, p.client, p.keys(channel), []string{p.events, quote(channel)}).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("presence %q: %w", channel, classify(err))
	}
	out := make([]stream.ClientInfo, 0, len(vals))
	for _, v := range vals {
		var ci stream.ClientInfo
		if err := json.Unmarshal([]byte(v), &ci); err != nil {
			return nil, fmt.Errorf("presence %q: %w: malformed entry: %w", channel, stream.ErrInternal, err)
		}
		out = append(out, ci)
	}
	return out, nil
}

// presenceEvent is a join or leave as the scripts publish it.
type presenceEvent struct {
	Channel string            `json:"channel"`
	Join    bool              `json:"join"`
	Client  stream.ClientInfo `json:"client"`
}

// Run delivers every node's join and leave events until ctx ends, then
// returns nil. It holds one pub/sub subscription and, when the connection
// is lost, subscribes again with jittered backoff for as long as it takes.
// Only one Run may be active at a time.
func (p *Presence) Run(ctx context.Context, deliver func(channel string, join bool, client stream.ClientInfo)) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("redis presence: already running")
	}
	defer p.running.Store(false)
	listen(ctx, p.client, p.events, p.log, "redis presence", func(msg string) {
		var ev presenceEvent
		if err := json.Unmarshal([]byte(msg), &ev); err != nil || ev.Channel == "" {
			p.log.Warn("redis presence: malformed event", "err", err)
			return
		}
		deliver(ev.Channel, ev.Join, ev.Client)
	})
	return nil
}
