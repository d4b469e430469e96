package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/switchboardhq/switchboard/stream"
)

// controlQueue bounds the messages waiting for one Run.
const controlQueue = 1024

// Control carries control messages between the hubs of one process: every
// active Run receives every message Published, the publisher's included.
// It satisfies hub.Control for nodes on the memory broker. All methods are
// safe for concurrent use; any number of Runs may be active.
type Control struct {
	mu   sync.Mutex
	runs map[chan []byte]struct{}
}

// NewControl returns a Control with no Run active.
func NewControl() *Control {
	return &Control{runs: make(map[chan []byte]struct{})}
}

// Run delivers every message Published while it runs, one at a time, until
// ctx ends; then it returns nil.
func (c *Control) Run(ctx context.Context, deliver func(msg []byte)) error {
	ch := make(chan []byte, controlQueue)
	c.mu.Lock()
	c.runs[ch] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.runs, ch)
		c.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			deliver(m)
		}
	}
}

// Publish queues a copy of msg to every active Run. It waits for a Run
// whose queue is full, until ctx ends.
func (c *Control) Publish(ctx context.Context, msg []byte) error {
	m := append([]byte(nil), msg...)
	c.mu.Lock()
	runs := make([]chan []byte, 0, len(c.runs))
	for ch := range c.runs {
		runs = append(runs, ch)
	}
	c.mu.Unlock()
	for _, ch := range runs {
		select {
		case ch <- m:
		case <-ctx.Done():
			return fmt.Errorf("control publish: %w: %w", stream.ErrUnavailable, ctx.Err())
		}
	}
	return nil
}
