package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// Subscribe makes Run deliver the channel's publications, and returns once
// NATS has registered the subscription: every publication stored after
// that is delivered, even if the connection is lost later (see Run). If Run
// is not delivering yet, Subscribe waits for it or for ctx. Subscriptions
// are a set, not counted: one Unsubscribe undoes any number of Subscribes.
//
// Publications stored just before Subscribe returned may be delivered too;
// the hub drops what it already has.
func (b *Broker) Subscribe(ctx context.Context, ch string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("subscribe %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := b.ready.Wait(ctx); err != nil {
		return fmt.Errorf("subscribe %q: broker not running: %w", ch, err)
	}
	op := lockOf(&b.ops, ch)
	op.Lock()
	defer op.Unlock()

	if b.subs.Get(ch) != nil {
		return nil
	}
	// The position is read before subscribing, not after: a publication
	// between the two then shows up as a gap, which the delivery loop
	// fills from history, instead of passing as already delivered.
	var pos stream.Position
	err := b.withStream(ctx, func() error {
		last, ok, err := b.last(ctx, ch)
		if ok {
			pos = last.position()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", ch, classify(err))
	}
	s := relay.NewSub(strings.Clone(ch), pos)
	b.subs.Add(s)
	ns, err := b.nc.ChanSubscribe(b.liveSubject(ch), b.msgs)
	if err == nil {
		b.live.Store(s, ns)
		// A round trip: once NATS answers it, it has the subscription.
		fctx, cancel := withTimeout(ctx)
		err = b.nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		b.forget(s)
		return fmt.Errorf("subscribe %q: %w", ch, classify(err))
	}
	return nil
}

// Unsubscribe stops delivery of the channel: once it returns, no delivery
// of it is running and none will start. Unsubscribing a channel that is not
// subscribed is not an error, and neither is a NATS that cannot be told.
func (b *Broker) Unsubscribe(ctx context.Context, ch string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("unsubscribe %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	op := lockOf(&b.ops, ch)
	op.Lock()
	defer op.Unlock()
	if s := b.subs.Get(ch); s != nil {
		b.forget(s)
	}
	return nil
}

// forget removes s and drops its NATS subscription.
func (b *Broker) forget(s *relay.Sub) {
	b.subs.Remove(s)
	ns, ok := b.live.LoadAndDelete(s)
	if !ok {
		return
	}
	if err := ns.(*natsgo.Subscription).Unsubscribe(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
		// Delivery has stopped all the same: the relay drops what nobody
		// is subscribed to.
		b.log.Debug("nats unsubscribe failed", "channel", s.Name(), "err", err)
	}
}
