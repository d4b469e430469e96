package redis

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// unsubscribeTimeout bounds the best-effort UNSUBSCRIBE sent to undo a
// subscription whose Subscribe failed.
const unsubscribeTimeout = time.Second

// Subscribe makes Run deliver the channel's publications, and returns once
// Redis has confirmed the subscription on the live pub/sub connection:
// every publication stored after that is delivered, even if the connection
// is lost later (see Run). If Run is not delivering — not started yet, or
// Redis unreachable — Subscribe waits for it or for ctx. Subscriptions are
// a set, not counted: one Unsubscribe undoes any number of Subscribes.
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
		return fmt.Errorf("subscribe %q: redis pub/sub not connected: %w", ch, err)
	}
	op := b.op(ch)
	op.Lock()
	defer op.Unlock()

	if b.subs.Get(ch) != nil {
		return nil
	}
	// The position is read before subscribing, not after: a publication
	// between the two then shows up as a gap, which the delivery loop
	// fills from history, instead of passing as already delivered.
	pos, err := b.position(ctx, ch)
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", ch, err)
	}
	// pos is where delivery starts: after an interruption the relay reads
	// history after the last position it delivered, which is how nothing
	// published meanwhile is lost.
	sub := relay.NewSub(strings.Clone(ch), pos)
	for {
		// Subscriptions are added only while a connection is live, so
		// the one that replaces it, which resubscribes everything in
		// subs, cannot miss this one.
		b.mu.Lock()
		c := b.conn
		if c == nil {
			ready := b.ready.Opened()
			b.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return fmt.Errorf("subscribe %q: redis pub/sub not connected: %w", ch, ctx.Err())
			}
		}
		b.subs.Add(sub)
		b.mu.Unlock()

		err := c.dc.Do(ctx, c.dc.B().Subscribe().Channel(b.pubsubName(ch)).Build()).Error()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || isRedisError(err) {
			b.undo(c, sub)
			return fmt.Errorf("subscribe %q: %w", ch, classify(err))
		}
		// The connection broke under the command. The next one
		// subscribes to everything in subs, this channel included, before
		// it is ready; the repair that follows delivers what was
		// published since pos.
		select {
		case <-c.down:
		case <-ctx.Done():
			b.undo(c, sub)
			return fmt.Errorf("subscribe %q: %w", ch, ctx.Err())
		}
		if err := b.ready.Wait(ctx); err != nil {
			b.undo(nil, sub)
			return fmt.Errorf("subscribe %q: redis pub/sub not connected: %w", ch, err)
		}
		return nil
	}
}

// undo forgets a subscription whose Subscribe failed and, since Redis may
// have subscribed anyway, asks c to unsubscribe. A subscription left at
// Redis would only cost traffic: the delivery loop drops what nobody is
// subscribed to.
func (b *Broker) undo(c *pubsubConn, sub *relay.Sub) {
	b.subs.Remove(sub)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), unsubscribeTimeout)
	defer cancel()
	_ = c.dc.Do(ctx, c.dc.B().Unsubscribe().Channel(b.pubsubName(sub.Name())).Build()).Error()
}

// Unsubscribe stops delivery of the channel: once it returns, no delivery
// of it is running and none will start. Unsubscribing a channel that is not
// subscribed is not an error, and neither is a Redis that cannot be told:
// a connection that is gone took its subscriptions with it.
func (b *Broker) Unsubscribe(ctx context.Context, ch string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("unsubscribe %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	op := b.op(ch)
	op.Lock()
	defer op.Unlock()

	b.mu.Lock()
	ok := b.subs.Delete(ch)
	c := b.conn
	b.mu.Unlock()
	if !ok || c == nil {
		return nil
	}
	if err := c.dc.Do(ctx, c.dc.B().Unsubscribe().Channel(b.pubsubName(ch)).Build()).Error(); err != nil {
		// Delivery has stopped all the same; Redis forgets the
		// subscription with the connection at the latest.
		b.log.Debug("redis unsubscribe failed", "channel", ch, "err", err)
	}
	return nil
}

var opSeed = maphash.MakeSeed()

func (b *Broker) op(ch string) *sync.Mutex {
	return &b.ops[maphash.String(opSeed, ch)%numOps]
}

// position reads the channel's current epoch and committed offset without
// creating anything: a channel Redis does not know has the zero position.
// A publication stored after the committed offset is not seen yet (see
// Publish): were it taken as delivered and then lost in a failover, the
// channel's next publication, given its offset, would be dropped as a
// repeat.
func (b *Broker) position(ctx context.Context, ch string) (stream.Position, error) {
	keys := b.channelKeys(ch)
	vals, err := b.client.Do(ctx, b.client.B().Hmget().Key(keys[0]).Field("e", "o", "c").Build()).ToArray()
	if err != nil {
		return stream.Position{}, classify(err)
	}
	if len(vals) != 3 || vals[0].IsNil() {
		return stream.Position{}, nil
	}
	epoch, err1 := vals[0].ToString()
	committed := vals[2]
	if committed.IsNil() {
		committed = vals[1] // an earlier version's meta: all of it committed
	}
	offset, err2 := committed.ToString()
	o, err3 := strconv.ParseUint(offset, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return stream.Position{}, fmt.Errorf("%w: malformed channel meta", stream.ErrInternal)
	}
	return stream.Position{Epoch: epoch, Offset: o}, nil
}
