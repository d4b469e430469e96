package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// Every call the hub makes to the Broker goes through here: it runs under
// [Config.BrokerTimeout], never under a hub-wide or shard lock, and a broker
// that did not answer in time is reported once, as stream.ErrUnavailable
// (503/117), not as an internal error.

// brokerCtx bounds one broker call.
func (h *Hub) brokerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.cfg.BrokerTimeout)
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
// gave it. Call the returned func when the command is done.
func (s *Session) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.replayCtx, func() { cancel(stream.ErrClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}
