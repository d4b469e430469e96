// Package redis is Switchboard's Broker for many nodes: channels' offsets,
// history and idempotency keys live in Redis, and publications travel
// between nodes over Redis pub/sub. Nodes share nothing else, so any node
// can serve any client and replay any channel.
//
// It owns the Redis key layout, the Lua scripts that are the only code
// changing those keys, the wire format of a publication inside Redis, and
// one pub/sub connection per node with its repair after interruptions. It
// does not own fan-out to sessions (the hub does) or namespaces (the hub
// passes history settings in each PublishRequest). It implements
// hub.Broker without importing package hub, passes broker/brokertest, and
// is the only package that imports the Redis client, rueidis.
//
// # Keys
//
// With the default prefix "switchboard", channel chat:room has:
//
//	{switchboard:chat:room}:meta      hash: e = epoch, o = latest offset, c = committed offset, h = history TTL (ms)
//	{switchboard:chat:room}:history   stream: one entry per publication kept
//	{switchboard:chat:room}:key:K     string "epoch offset": idempotency key K
//	{switchboard:chat:room}           the pub/sub channel (not a key)
//	{switchboard:chat:room}:presence      hash: client id → ClientInfo JSON (Presence)
//	{switchboard:chat:room}:presence:exp  sorted set: client id → expiry, Redis ms (Presence)
//	{switchboard}:presence            the pub/sub channel of every join and leave (not a key)
//	{switchboard}:control             the pub/sub channel of control messages (Control; not a key)
//
// The braces are a Redis Cluster hash tag: all keys of a channel sit in one
// slot, so one script can touch them all on any deployment. A history
// entry's ID is "<offset>-<unix ms>", so reading from an offset is a range
// query on the ID, and its one field "b" holds the body (below).
//
// # Publishing
//
// Publish is one script, run atomically by Redis (EVALSHA, falling back to
// EVAL after a restart emptied the script cache):
//
//  1. Read the channel's epoch; if it has none — it is new, or Redis lost
//     it — store a new random one (sent by the node, since Lua's random
//     numbers repeat from run to run) and delete any history left over.
//  2. With an idempotency key: if the key holds a position in this epoch,
//     return it as a duplicate (committing it, as in step 5, if it is not
//     yet) and stop.
//  3. Increment the offset (HINCRBY) and take the time from Redis's clock,
//     so every node stamps publications with one clock.
//  4. Drop history entries older than the history TTL from the front, append
//     the publication (XADD … MAXLEN size), set the stream's expiry to the
//     TTL. A history size of 0 deletes the stream instead, but the offset
//     was still assigned.
//  5. Store the idempotency key with its TTL; extend the meta hash's life;
//     and, unless replicas must have it first, commit: raise the channel's
//     committed offset (c) to this one and PUBLISH the encoded publication
//     to the channel's pub/sub channel.
//
// Offsets are therefore gapless under any number of publishers on any
// number of nodes. Nothing past the committed offset is seen: History,
// Subscribe's starting position and the relay's repair read up to it, and
// only a commit sends a publication live.
//
// With replicas to wait for (Config.MinReplicas; by default one while the
// primary has a replica), step 5 leaves the publication hidden. On the
// connection that ran the script, the node sends WAIT and, once the
// replicas have it, runs the commit script, which does step 5's commit.
// Redis replicates asynchronously, and a publication only the primary had
// would be lost in a failover, its offset given to the channel's next
// publication in the same epoch: since nobody saw the lost one, nobody
// drops the new one as a repeat. One that no replica confirms in
// Config.ReplicaTimeout is refused as unavailable and stays hidden, for
// its publisher to retry under its key (a duplicate rewrites its key, so
// the retry's WAIT covers the first write, and then commits it), or for
// the channel's next commit to reveal: committing an offset reveals every
// earlier one, which the relay fills from history.
//
// The meta hash lives as long as anything of the channel may be read — its
// history TTL or its idempotency window, whichever is longer — plus
// Config.IdleTTL (24h by default), refreshed on every publish and (up to
// IdleTTL) on every history read. So offsets keep rising in one epoch
// across quiet periods, and a client returning after its publications
// expired hears "not recovered" rather than meeting a new epoch. A channel
// whose history has no time limit keeps its meta forever. Once the meta
// is gone, the channel's next publish starts a new epoch at offset 1,
// which is right: old positions cannot be compared with new offsets.
//
// # Reading history
//
// History is another script, one round trip: it reads the meta (creating
// the epoch for a never-used channel), drops aged-out entries, and returns
// the positions and the entries asked for, up to the committed offset (XRANGE or XREVRANGE from the
// offset), with exactly the memory broker's semantics for Since, Limit,
// Reverse, Earliest and Latest.
//
// # Wire format
//
// The body is encoded once by the publishing node, in the encoding the NATS
// broker uses too (package broker/internal/body):
//
//	0x01 flags [uvarint len, key] [uvarint len, client, uvarint len, user, uvarint len, info] data
//
// flags bit 0: a key follows; bit 1: client info follows. The data, raw
// JSON as the publisher sent it, runs to the end, so it is stored and sent
// byte for byte. The script builds the live message around the body:
//
//	"1 " epoch " " offset "-" unix-ms " " body
//
// The leading "1" versions the message, the first body byte the body; a
// node that meets a version it does not know logs the message and leaves
// its offset as a gap rather than misreading it, which can only happen
// during a rolling upgrade across a format change.
//
// # Delivery and repair
//
// Run owns one dedicated pub/sub connection. Subscribe reads the channel's
// position, then SUBSCRIBEs on that connection and returns once Redis
// confirmed it; Unsubscribe UNSUBSCRIBEs. Messages go into an unbounded
// queue, so the connection's reader never waits (Redis disconnects a
// subscriber that falls behind), and one delivery loop drains it.
//
// The loop hands each message to the relay it shares with the NATS broker
// (package broker/internal/relay, which also decides what each error
// means). The relay keeps, per subscribed channel, the last position it
// delivered, and checks each publication against it: a repeat is dropped, the next
// offset is delivered, and a gap or a new epoch is first filled from
// history, in order. When the connection is lost — Redis restarted, the
// network dropped, Redis closed it — Run connects again with jittered
// backoff, SUBSCRIBEs every channel (in batches) before it is ready, and
// then repairs: it reads every channel's history after its last delivered
// position (pipelined) and delivers what is missing before anything that
// arrived live on the new connection. If Redis lost a channel, its epoch
// changed, and the loop delivers the new epoch from its start; the hub sees
// the new epoch. Only what is no longer in history — a channel that keeps
// none, publications trimmed meanwhile, or one this node cannot read —
// cannot be repaired, and subscribers see the gap in offsets. Healthy is false from the loss until
// the new connection is ready; Subscribe waits for it.
//
// # Deploying
//
// Redis 6.2 or later, with maxmemory-policy noeviction: a full Redis then
// refuses publishes, where an evicting policy would drop keys that all
// carry TTLs — a meta hash (the channel starts a new epoch: correct, but
// its clients lose recovery), a history (recovered: false) or an
// idempotency key (a retry publishes twice). Without persistence, a Redis
// restart changes every channel's epoch; with appendonly yes and appendfsync always, what Publish
// acknowledged survives a crash. Redis Cluster works: a channel's keys share
// a slot, and pub/sub uses classic PUBLISH, which a cluster forwards to
// every node — simple and correct, though cluster-wide traffic grows with
// the number of Redis nodes. Sentinel works through Config.URL's master_set
// or Config.Options.Sentinel.
package redis
