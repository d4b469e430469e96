package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Every call the hub makes to the Broker goes through here: it runs under
// [Config.BrokerTimeout], never under a hub-wide or shard lock, and a broker
// that did not answer in time is reported once, as stream.ErrUnavailable
// (503/117), not as an internal error.

// brokerCtx bounds one broker call. The context is made lazily (see
// callCtx): a broker that answers at once and only checks Err, as the
// memory broker's reads do, costs no timer and no cancel context.
func (h *Hub) brokerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	c := &callCtx{parent: ctx, deadline: time.Now().Add(h.cfg.BrokerTimeout)}
	return c, c.release
}

// asUnavailable maps a broker call's error: one that ran out of time is the
// broker being unavailable. Anything else is returned as it is.
func asUnavailable(err error) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, stream.ErrUnavailable) {
		return fmt.Errorf("%w: %w", stream.ErrUnavailable, err)
	}
	return err
}

// readHistory is [Broker.History] under the broker timeout.
func (h *Hub) readHistory(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	ctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	page, err := h.cfg.Broker.History(ctx, channel, q)
	return page, asUnavailable(err)
}

// brokerPublish is [Broker.Publish] under the broker timeout.
func (h *Hub) brokerPublish(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error) {
	ctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	res, err := h.cfg.Broker.Publish(ctx, req)
	return res, asUnavailable(err)
}

// bind returns ctx, ended also when the session ends: a command in flight
// stops waiting for the broker as soon as its client is gone or
// disconnected (by shutdown, for instance), whatever context its transport
// gave it. Call the returned func when the command is done. Like
// brokerCtx's, the context is made lazily.
func (s *Session) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	c := &callCtx{parent: ctx, end: s.replayCtx}
	return c, c.release
}

// callCtx is the context of a command's broker calls: parent, ended also
// when end does (with cause stream.ErrClosed) and at deadline (when not
// zero). Most calls never wait on it (a memory broker's read checks Err
// once and answers under a lock; a subscribe to a channel the node is
// subscribed to already waits for nothing), so the cancel context, the
// timer and the registration with end and parent that waiting needs are
// made only on the first call to Done; until then Err asks parent, end
// and the clock. The release func stops whatever was made.
type callCtx struct {
	parent   context.Context
	end      context.Context // nil: none
	deadline time.Time       // zero: none

	mu       sync.Mutex
	made     atomic.Pointer[madeCtx]
	released atomic.Bool // release ran: the context has ended
}

// madeCtx is a callCtx's real context, once something waits on it.
type madeCtx struct {
	ctx  context.Context
	stop func()
}

var _ context.Context = (*callCtx)(nil)

func (c *callCtx) Deadline() (time.Time, bool) {
	d, ok := c.parent.Deadline()
	if !c.deadline.IsZero() && (!ok || c.deadline.Before(d)) {
		return c.deadline, true
	}
	return d, ok
}

func (c *callCtx) Done() <-chan struct{} { return c.make().ctx.Done() }

func (c *callCtx) Err() error {
	if m := c.made.Load(); m != nil {
		return m.ctx.Err()
	}
	if c.released.Load() {
		return context.Canceled
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if c.end != nil && c.end.Err() != nil {
		return context.Canceled
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *callCtx) Value(key any) any {
	if m := c.made.Load(); m != nil {
		return m.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// make returns the real context, making it on first use. After release
// it is one that has ended, as a context.WithCancel's is once cancelled.
func (c *callCtx) make() *madeCtx {
	if m := c.made.Load(); m != nil {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.made.Load(); m != nil {
		return m
	}
	ctx, cancel := context.WithCancelCause(c.parent)
	stops := []func(){func() { cancel(nil) }}
	if !c.deadline.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, c.deadline)
		stops = append(stops, stop)
	}
	if c.end != nil {
		stopEnd := context.AfterFunc(c.end, func() { cancel(stream.ErrClosed) })
		stops = append(stops, func() { stopEnd() })
	}
	m := &madeCtx{ctx: ctx, stop: func() {
		for _, f := range stops {
			f()
		}
	}}
	if c.released.Load() {
		m.stop()
	}
	c.made.Store(m)
	return m
}

// release ends the context: it stops what make made, and anything made
// later starts ended.
func (c *callCtx) release() {
	c.mu.Lock()
	c.released.Store(true)
	m := c.made.Load()
	c.mu.Unlock()
	if m != nil {
		m.stop()
	}
}
