package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

var errRunning = errors.New("broker is already running")

// Run delivers publications of subscribed channels by calling deliver, one
// at a time and, per channel, in offset order, until ctx ends. It then
// returns nil: ending ctx is the normal way to stop it.
//
// Live publications arrive as the stream republishes them. Every one is
// checked against the last position delivered for its channel: a repeat is
// dropped, the next offset is delivered, and a gap or a new epoch is first
// filled from history. When the connection is lost, nats.go connects again
// (for as long as it takes) and subscribes again, and Run then repairs:
// for each channel it reads the history after the last publication it
// delivered and delivers what is missing. The same repair runs when a
// live message was dropped on the way (the node fell behind), and when Run
// starts, for what was published while no Run was delivering. Only what is
// no longer in history, or what this node cannot read, cannot be repaired;
// subscribers see the gap (the relay's decisions: see [relay.Relay]).
//
// Only one Run may be active at a time; a second concurrent call returns an
// error at once. Once Run has returned, deliver is not running and will not
// be called again.
func (b *Broker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	if deliver == nil {
		return errors.New("run: nil deliver func")
	}
	if !b.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run: %w", errRunning)
	}
	b.ready.Open()
	defer func() {
		b.ready.Shut()
		b.running.Store(false)
	}()

	// The probe runs beside delivery, and ends with Run.
	defer b.probe.Start(ctx)()

	r := b.newRelay(deliver)
	b.requestRepair()
	retry := relay.NewRetry(b.log)
	var wait <-chan time.Time
	for {
		if b.repairAll.Swap(false) {
			if err := r.Repair(ctx, b.subs.All()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.repairAll.Store(true)
				wait = time.After(retry.Failed("nats: cannot repair subscriptions from history yet; retrying", err))
			} else {
				retry.Reset()
				wait = nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-b.msgs:
			if err := b.handle(ctx, r, m); err != nil {
				// The repair reads past this message too.
				b.log.Debug("nats: cannot fill a gap from history; repairing", "err", err)
				if wait == nil {
					b.requestRepair()
				}
			}
		case <-b.signal:
		case <-wait:
			wait = nil
		}
	}
}

// requestRepair makes the delivery loop read every subscribed channel's
// history after the position it delivered last.
func (b *Broker) requestRepair() {
	b.repairAll.Store(true)
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// handle reads one live message and hands it to the relay, which delivers
// it and before it whatever its channel missed (see [relay.Relay], which
// also says what each error means). It returns only a transient error.
func (b *Broker) handle(ctx context.Context, r *relay.Relay, m *natsgo.Msg) error {
	name, ok := b.channelOfLive(m.Subject)
	if !ok {
		return nil
	}
	e, err := readLive(m)
	if err != nil {
		r.Unreadable(ctx, name, err)
		return nil
	}
	if e.offset == 0 {
		return nil // an epoch's marker, not a publication
	}
	return r.Handle(ctx, name, e.live())
}

// newRelay is the relay of one Run. A repair reads one channel at a time:
// JetStream has no pipeline to batch them in.
func (b *Broker) newRelay(deliver func(*stream.Publication)) *relay.Relay {
	return relay.New(relay.Config{
		Name:       "nats",
		Log:        b.log,
		Subs:       &b.subs,
		History:    b.History,
		Unreadable: &b.unreadable,
	}, deliver)
}

// listen hands every core NATS message on subject to handle, in order, until
// ctx ends. buf is how many messages may wait for handle before the
// client's slow-consumer limit applies.
func listen(ctx context.Context, nc *natsgo.Conn, subject string, buf int, handle func(*natsgo.Msg)) error {
	msgs := make(chan *natsgo.Msg, buf)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return classify(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			handle(m)
		}
	}
}
