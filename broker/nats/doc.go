// Package nats is Switchboard's Broker on NATS JetStream: channels' offsets,
// history and idempotency keys live in one JetStream stream, and
// publications travel between nodes as the stream republishes them once
// stored. Nodes share nothing else, so any node can serve any client and
// replay any channel.
//
// It owns the stream's layout and the headers of the messages in it, and
// the delivery loop that feeds the relay it shares with the Redis broker
// (package broker/internal/relay; the message body is package
// broker/internal/body, as with Redis). It does not
// own fan-out to sessions (the hub does) or namespaces (the hub passes
// history settings in each PublishRequest). It implements hub.Broker without
// importing package hub, passes broker/brokertest, and is the only package
// that imports the NATS client, nats.go.
//
// # Subjects
//
// With the default prefix "switchboard" and stream "SWITCHBOARD", channel
// chat:room.1 has:
//
//	switchboard.c.chat:room%1      its messages in the stream, oldest first
//	switchboard.k.<hash>           one idempotency key (sha-256 of channel and key)
//	switchboard.live.chat:room%1   where the stream republishes what it stored
//
// A channel is one subject token: '.' is the only byte of the channel
// alphabet that subjects reserve, and '%', which channels never contain,
// stands in for it.
//
// # Gapless offsets
//
// JetStream numbers messages per stream, not per subject, so a channel's
// offsets cannot be the stream's sequence numbers. Each message of a
// channel carries its offset (and epoch) in headers instead, and Publish
// makes them gapless with optimistic concurrency:
//
//  1. read the channel's newest message: offset o, stream sequence s
//     (none: the channel is new, and gets a new epoch);
//  2. publish offset o+1 with Nats-Expected-Last-Subject-Sequence: s;
//  3. if JetStream refuses it because the channel's newest message is no
//     longer s, another publisher took o+1: go back to 1.
//
// JetStream checks and stores atomically, so exactly one publisher wins
// each offset, and none is skipped: a refused message is not stored and
// not republished. Publishers on one node take turns per channel before
// step 1, so only publishers on different nodes ever retry.
//
// # Epochs
//
// The epoch is in every message's headers. A channel the stream holds
// nothing of — never used, or forgotten, or lost with the stream (a memory
// stream after a NATS restart, a deleted stream) — gets a new random epoch
// from whoever writes to it first: a publisher, or a History reader, which
// stores a marker (offset 0, no body) so that every later reader and the
// first publisher agree on it. The per-subject check makes that race safe
// too. So the epoch changes exactly when the channel's history was lost.
//
// The channel's newest message is also where its position lives, so it
// must outlive its history: every publication gets a message TTL
// (Nats-TTL) of the history TTL plus Config.IdleTTL (24h by default), and
// none at all when the history has no time limit. History hides what the
// history TTL and size no longer keep; the stream deletes it later (the
// TTL), or Publish purges it (the size, every quarter of it). A channel
// whose history has a time limit is forgotten IdleTTL after its last
// publish, and starts a new epoch at offset 1 when used again, as with the
// Redis broker. A history size of 0 still stores each publication — it
// carries the position — but History never shows it, and the next publish
// purges it.
//
// # Reading history
//
// History reads the newest message (Latest and the history settings) and
// the oldest still kept — the first message newer than the history TTL,
// found by time in one request — from the stream's leader
// (STREAM.MSG.GET), never from a replica that could lag. The publications
// asked for are then read one request each, back from the newest (each
// message names the stream sequence of the one before it), or, for longer
// ranges, with batch direct gets forward from the oldest kept. A batch may
// come from a replica, so what it returns is checked (contiguous offsets,
// one epoch, up to the newest the leader named) and replaced by the walk
// when it falls short.
//
// # Idempotency keys
//
// A key is a subject of its own with the key's window as message TTL. Its
// newest message is either a claim "C <id>", stored before publishing
// (with the per-subject check, so one publisher claims), or the outcome
// "P <epoch> <offset>". A publisher that finds the outcome in the channel's
// current epoch answers Duplicate. One that finds a claim publishes under
// the claim's id as Nats-Msg-Id, so that if the claimer stored the
// publication and then failed, JetStream recognises the repeat (within the
// stream's duplicate window, DefaultDuplicates) and answers with the first
// one's sequence.
//
// # Delivery and repair
//
// Subscribe reads the channel's position, subscribes (core NATS) to the
// channel's live subject and returns once NATS has confirmed it; one
// buffered Go channel collects every subscription's messages and Run
// drains it into the relay it shares with the Redis broker (package
// broker/internal/relay, which also decides what each error means). The
// relay keeps, per subscribed channel, the last position it delivered,
// and checks each publication against it: a repeat is dropped,
// the next offset is delivered, and a gap or a new epoch is first filled
// from history, in order. When the connection is lost, nats.go connects
// again with jittered backoff and subscribes again; the loop then reads
// every channel's history after its last delivered position and delivers
// what is missing. The same repair runs when nats.go dropped a message
// because the node fell behind. A channel whose stream was lost starts a
// new epoch, which the loop delivers from its start. Only what is no
// longer in history — a channel that keeps none, or publications trimmed
// meanwhile — and what this node cannot read cannot be repaired, and
// subscribers see the gap in offsets.
//
// # Deploying
//
// NATS Server 2.11 or later with JetStream ([MinServerVersion]: per-message
// TTLs, batch direct gets, Nats-Time-Stamp on republished messages); New
// refuses an older server, naming the version needed. The broker creates
// the stream, or updates it to the settings it needs, at start.
// With file storage (the default) and a cluster of three with Replicas=3,
// what Publish acknowledged survives the loss of a server; with
// MemoryStorage a restart of NATS starts every channel's epoch anew.
package nats
