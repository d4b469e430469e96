package nats

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/stream"
)

// Control carries control messages between the nodes that share a NATS and
// prefix, over core NATS on one subject ("<prefix>.control"). It satisfies
// hub.Control for nodes on the NATS broker. Create it with NewControl from
// the node's Broker, whose connection it shares. Messages published while a
// node is disconnected are not replayed to it. All methods are safe for
// concurrent use.
type Control struct {
	nc      *natsgo.Conn
	log     *slog.Logger
	subject string
	running atomic.Bool
}

// NewControl returns the control subject of the nodes that share b's NATS
// and prefix.
func NewControl(b *Broker) *Control {
	return &Control{nc: b.nc, log: b.log, subject: b.cfg.Prefix + ".control"}
}

// controlFlushTimeout bounds the wait for the server to take a message
// when ctx sets no deadline.
const controlFlushTimeout = 5 * time.Second

// Publish sends msg to every node's Run, this node's included. It waits
// until the server has the message, so that a disconnected node reports
// failure rather than leaving the message in its reconnect buffer.
func (c *Control) Publish(ctx context.Context, msg []byte) error {
	if !c.nc.IsConnected() {
		return fmt.Errorf("control publish: %w: not connected to NATS", stream.ErrUnavailable)
	}
	if err := c.nc.Publish(c.subject, msg); err != nil {
		return fmt.Errorf("control publish: %w", classify(err))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, controlFlushTimeout)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("control publish: %w: %w", stream.ErrUnavailable, err)
	}
	return nil
}

// Run delivers every node's control messages until ctx ends. Only one Run
// may be active at a time.
func (c *Control) Run(ctx context.Context, deliver func(msg []byte)) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("control run: %w", errRunning)
	}
	defer c.running.Store(false)
	if err := listen(ctx, c.nc, c.subject, 1024, func(m *natsgo.Msg) { deliver(m.Data) }); err != nil {
		return fmt.Errorf("control run: %w", err)
	}
	return nil
}
