package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/internal/backoff"
	"github.com/switchboardhq/switchboard/stream"
)

const (
	// connectTimeout bounds connecting and resubscribing every channel.
	connectTimeout = 10 * time.Second
	// subscribeBatch is how many channels one SUBSCRIBE names when a new
	// connection resubscribes: few round trips, no giant command.
	subscribeBatch = 512
	// drainTimeout bounds the wait for a closed connection's message hooks
	// to finish, which rueidis promises but a stuck socket could delay.
	drainTimeout = 5 * time.Second
)

var (
	errRunning = errors.New("broker is already running")
	errClosed  = errors.New("broker is closed")
)

// pubsubConn is one dedicated pub/sub connection. Its messages go to the
// broker's inbox, which the delivery loop drains.
type pubsubConn struct {
	dc rueidis.DedicatedClient
	// lost yields at most one error and is closed once the connection's
	// hooks will not be called again.
	lost <-chan error
	// down is closed once the broker has stopped using the connection and
	// ready no longer points at it.
	down chan struct{}
}

// Run delivers publications of subscribed channels by calling deliver, one
// at a time and, per channel, in offset order, until ctx ends. It then
// returns nil: ending ctx is the normal way to stop it.
//
// Run owns one dedicated pub/sub connection. When that connection is lost —
// Redis restarted, the network dropped, Redis closed a slow subscriber —
// Run connects again, with jittered backoff, for as long as it takes,
// subscribes to every channel again, and then repairs: for each channel it
// reads the history after the last publication it delivered and delivers
// what is missing before anything newer. If Redis lost the channel (its
// epoch changed), Run delivers the new epoch's publications from its start.
// A publication that is no longer in history, or that this node cannot
// read, cannot be repaired; its offset is skipped, which subscribers see as
// a gap (the relay's decisions: see [relay.Relay]). Run itself never fails for a
// Redis outage; Healthy reports one.
//
// Only one Run may be active at a time; a second concurrent call returns an
// error at once. Once Run has returned, deliver is not running and will not
// be called again. A Run started after an earlier one returned first
// delivers what the subscribed channels missed in between, within history.
func (b *Broker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	if deliver == nil {
		return errors.New("run: nil deliver func")
	}
	if !b.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run: %w", errRunning)
	}
	defer b.running.Store(false)

	// The probe runs beside delivery, and ends with Run.
	defer b.probe.Start(ctx)()

	l := &loop{b: b, relay: b.newRelay(deliver)}
	retry, lost := relay.NewRetry(b.log), false
	for {
		if b.closed.Load() {
			return fmt.Errorf("run: %w", errClosed)
		}
		c, subs, err := b.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !backoff.Sleep(ctx, retry.Failed("redis pub/sub: cannot connect; retrying", err)) {
				return nil
			}
			continue
		}
		if retry.Failures() > 0 || lost {
			b.log.Info("redis pub/sub: connected again; repairing what subscriptions missed",
				"channels", len(subs))
		}
		repaired, reason := l.serve(ctx, c, subs)
		b.disconnect(c)
		if ctx.Err() != nil {
			return nil
		}
		lost = true
		b.log.Warn("redis pub/sub: connection lost; reconnecting", "err", reason)
		if repaired {
			retry.Reset()
			continue
		}
		// A connection that could not even be repaired must not be
		// replaced in a tight loop.
		if !backoff.Sleep(ctx, retry.Failed("", reason)) {
			return nil
		}
	}
}

// connect opens a pub/sub connection, subscribes it to every channel in
// subs and makes it the live one. It returns the subscriptions it took
// over, which the delivery loop repairs.
func (b *Broker) connect(ctx context.Context) (*pubsubConn, []*relay.Sub, error) {
	dc, _ := b.client.Dedicate() // dc.Close gives the connection back
	c := &pubsubConn{
		dc:   dc,
		lost: dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: b.inbox.push}),
		down: make(chan struct{}),
	}
	// No connection is live, so no Subscribe adds to subs meanwhile: what
	// is read here is everything this connection has to carry.
	subs := b.subs.All()

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	err := dc.Do(cctx, dc.B().Ping().Build()).Error()
	names := make([]string, 0, min(len(subs), subscribeBatch))
	for i := 0; err == nil && i < len(subs); i += subscribeBatch {
		names = names[:0]
		for _, s := range subs[i:min(i+subscribeBatch, len(subs))] {
			names = append(names, b.pubsubName(s.Name()))
		}
		err = dc.Do(cctx, dc.B().Subscribe().Channel(names...).Build()).Error()
	}
	if err != nil {
		b.closeConn(c)
		return nil, nil, err
	}

	b.mu.Lock()
	b.conn = c
	b.ready.Open()
	// An Unsubscribe while no connection was live told Redis nothing;
	// those channels were subscribed above and are dropped again below.
	var gone []string
	for _, s := range subs {
		if b.subs.Get(s.Name()) != s {
			gone = append(gone, s.Name())
		}
	}
	b.mu.Unlock()
	b.healthy.Store(true)
	for _, ch := range gone {
		b.forget(cctx, c, ch)
	}
	return c, subs, nil
}

// forget unsubscribes c from ch unless ch was subscribed again meanwhile.
// It takes the channel's op lock, so it cannot undo a Subscribe.
func (b *Broker) forget(ctx context.Context, c *pubsubConn, ch string) {
	op := b.op(ch)
	op.Lock()
	defer op.Unlock()
	if b.subs.Get(ch) == nil {
		_ = c.dc.Do(ctx, c.dc.B().Unsubscribe().Channel(b.pubsubName(ch)).Build()).Error()
	}
}

// disconnect stops using c: Subscribe waits for the next connection, and
// the subscriptions c carried stay in subs for it.
func (b *Broker) disconnect(c *pubsubConn) {
	b.mu.Lock()
	if b.conn == c {
		b.conn = nil
		b.ready.Shut()
	}
	b.mu.Unlock()
	b.healthy.Store(false)
	b.closeConn(c)
}

// closeConn closes c and waits until its hooks are done, so whatever it
// received is in the inbox before anything of the next connection.
func (b *Broker) closeConn(c *pubsubConn) {
	c.dc.Close()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-c.lost:
			if !ok {
				close(c.down)
				return
			}
		case <-timer.C:
			b.log.Warn("redis pub/sub: a closed connection's hooks did not finish", "after", drainTimeout)
			close(c.down)
			return
		}
	}
}

// listen delivers every message of one pub/sub channel to handle until ctx
// ends, then returns. When the subscription is lost it subscribes again
// after a jittered backoff, for as long as it takes; the backoff starts over
// once a subscription has lasted longer than relay.MaxBackoff. what names the
// listener in log lines.
func listen(ctx context.Context, client rueidis.Client, channel string, log *slog.Logger, what string, handle func(msg string)) {
	cmd := client.B().Subscribe().Channel(channel).Build()
	bo := relay.NewBackoff()
	for {
		start := time.Now()
		err := client.Receive(ctx, cmd, func(m rueidis.PubSubMessage) { handle(m.Message) })
		if ctx.Err() != nil {
			return
		}
		log.Warn(what+": subscription lost; resubscribing", "err", err)
		if time.Since(start) > relay.MaxBackoff {
			bo.Reset()
		}
		if !backoff.Sleep(ctx, bo.Next()) {
			return
		}
	}
}

// inbound is one message as the pub/sub connection received it.
type inbound struct {
	channel, payload string
}

// inbox queues messages from the connection's reader to the delivery loop.
// The reader must never wait on delivery: a connection that stops reading
// is one Redis disconnects as a slow subscriber. So the queue is
// unbounded, and delivery is expected to keep up (deliver must not block
// for long).
type inbox struct {
	mu     sync.Mutex
	items  []inbound
	signal chan struct{} // one token: "items is not empty"
}

func (in *inbox) push(m rueidis.PubSubMessage) {
	in.mu.Lock()
	in.items = append(in.items, inbound{channel: m.Channel, payload: m.Message})
	in.mu.Unlock()
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

// take returns everything queued and keeps buf, which the caller is done
// with, to queue into next.
func (in *inbox) take(buf []inbound) []inbound {
	in.mu.Lock()
	defer in.mu.Unlock()
	items := in.items
	in.items = buf[:0]
	return items
}
