package hub

import (
	"context"

	"github.com/switchboardhq/switchboard/stream"
)

// Broker assigns offsets, keeps history and carries publications between
// nodes. Memory, Redis and NATS implement it; broker/brokertest is the suite
// every implementation passes. All methods are safe for concurrent use.
//
// An error names the operation and the channel where it happened
// (`publish "chat:1": …`) and wraps a stream sentinel or the context's
// error; the hub returns it as it is, without wrapping it again.
type Broker interface {
	// Run delivers publications of the channels this node subscribed to,
	// calling deliver for each, until ctx ends. Publications of one channel
	// are delivered in offset order, one call at a time; deliver must not
	// block for long and must treat the publication as read-only.
	Run(ctx context.Context, deliver func(*stream.Publication)) error

	// Publish appends a publication to a channel's history and delivers it
	// to every node subscribed to the channel.
	Publish(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error)

	// Subscribe makes this node receive the channel's publications. Once
	// it returns, every publication stored after that is delivered. If Run
	// has not started delivering yet, Subscribe waits for it (or for ctx),
	// so a subscription never silently misses what follows it.
	Subscribe(ctx context.Context, channel string) error

	// Unsubscribe stops delivery of the channel to this node.
	Unsubscribe(ctx context.Context, channel string) error

	// History reads the channel's history.
	History(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error)
}

// Policy decides what a client may do on a channel. It returns nil, or an
// error wrapping stream.ErrPermissionDenied (or another sentinel). It must be
// safe for concurrent use.
type Policy interface {
	Allow(id *stream.Identity, action stream.Action, channel string, ns *stream.Namespace) error
}

// Encoder turns what the hub sends into one transport's wire bytes. The hub
// calls each distinct Encoder at most once per publication and queues the same
// bytes to every session that uses it, so implementations must be stateless
// and safe for concurrent use, and must return a fresh slice they never touch
// again.
type Encoder interface {
	// Publication encodes a publication push.
	Publication(p *stream.Publication) []byte
	// Ping encodes the keep-alive the hub queues every ping interval, or
	// returns nil when the transport needs none.
	Ping() []byte
	// Presence encodes a join (join true) or leave push. The hub sends the
	// events of one channel gathered over [Config.JoinLeaveInterval] as one
	// push, by appending their encodings one after the other, so the
	// encoding must be a complete frame (event) that can be followed by
	// another.
	Presence(channel string, join bool, info *stream.ClientInfo) []byte
	// Gap encodes the push that tells a subscriber its channel's epoch
	// changed under it (see [Gap]); the hub queues it ahead of the first
	// publication of the new epoch. It must not return nil: the push is
	// news even to a transport that carries it only in its replies.
	Gap(g *Gap) []byte
	// Unsubscribed encodes the push that tells a client the node ended
	// one of its subscriptions, and why (err: a refusal such as
	// [stream.ErrPermissionDenied]); nil for a transport that has no such
	// push (a poll's channels are whatever each request names).
	Unsubscribed(channel string, err error) []byte
}
