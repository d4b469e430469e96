package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// Control carries control messages between the nodes that share a Redis
// and prefix, on one pub/sub channel ("{prefix}:control"). It satisfies
// hub.Control for nodes on the Redis broker. Create it with NewControl from
// the node's Broker, whose connections it shares; close the Broker when
// done. Messages published while a node's pub/sub connection is down are
// not replayed to it. All methods are safe for concurrent use.
type Control struct {
	client  rueidis.Client
	log     *slog.Logger
	channel string
	running atomic.Bool
}

// NewControl returns the control channel of the nodes that share b's Redis
// and prefix.
func NewControl(b *Broker) *Control {
	prefix := b.tagOpen[1 : len(b.tagOpen)-1]
	return &Control{
		client: b.client,
		log:    b.log,
		// Outside every channel's tag ("{prefix:"), like presence events.
		channel: "{" + prefix + "}:control",
	}
}

// Publish sends msg to every node's Run, this node's included.
func (c *Control) Publish(ctx context.Context, msg []byte) error {
	err := c.client.Do(ctx, c.client.B().Publish().Channel(c.channel).Message(rueidis.BinaryString(msg)).Build()).Error()
	if err != nil {
		return fmt.Errorf("control publish: %w", classify(err))
	}
	return nil
}

// Run delivers every node's control messages until ctx ends, then returns
// nil. It holds one pub/sub subscription and, when the connection is lost,
// subscribes again with jittered backoff for as long as it takes. Only one
// Run may be active at a time.
func (c *Control) Run(ctx context.Context, deliver func(msg []byte)) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("redis control: already running")
	}
	defer c.running.Store(false)
	listen(ctx, c.client, c.channel, c.log, "redis control", func(msg string) { deliver([]byte(msg)) })
	return nil
}
