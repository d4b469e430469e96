package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Publish assigns the channel's next offset to a new publication, keeps it in
// history as req asks, and delivers it if this node subscribed to the channel
// and Run is running. Offsets of a channel are gapless under any number of
// concurrent publishers; publishers of different channels do not contend.
//
// The broker takes ownership of req.Data and req.Info: the caller must not
// modify them afterwards, since every subscriber and history reader shares
// them.
//
// A request whose Key was already used on the channel within its KeyTTL
// returns the first publication's position with Duplicate set, and stores and
// delivers nothing. The KeyTTL of the first request decides how long its key
// is remembered. A key longer than stream.MaxKeyLen or not UTF-8 is refused
// (stream.ErrBadRequest); a new key beyond Config.KeysPerChannel or
// Config.KeyBytes is refused (stream.ErrTooManyRequests), never evicting a
// live key. A negative HistorySize keeps nothing, like 0; a negative
// HistoryTTL means no time limit, like 0; a negative KeyTTL means
// stream.DefaultKeyTTL, like 0.
func (b *Broker) Publish(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error) {
	if err := ctx.Err(); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, err)
	}
	if err := stream.ValidateChannel(req.Channel); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish: %w", err)
	}
	if err := stream.ValidateKey(req.Key); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, err)
	}

	c := b.lock(req.Channel)
	defer c.mu.Unlock()
	t := b.now()
	now := t.UnixNano()
	c.lastUsed = now

	if req.Key != "" {
		if k, ok := c.keys[req.Key]; ok && now < k.expires {
			return stream.PublishResult{
				Position:  stream.Position{Epoch: c.epoch, Offset: k.offset},
				Duplicate: true,
			}, nil
		}
		if err := b.admitKey(c, req.Key, now); err != nil {
			return stream.PublishResult{}, err
		}
	}

	c.top++
	p := &stream.Publication{
		Channel: c.name,
		Epoch:   c.epoch,
		Offset:  c.top,
		Data:    req.Data,
		Time:    t.UnixMilli(),
		Key:     req.Key,
		Info:    req.Info,
	}
	c.ttl = max(req.HistoryTTL, 0)
	c.expire(now)
	c.hist.push(p, req.HistorySize)

	if req.Key != "" {
		b.rememberKey(c, req.Key, keyEntry{offset: p.Offset, expires: now + int64(keyTTL(req.KeyTTL))})
	}

	// Delivering under the channel lock is what orders deliveries by
	// offset, keeps them one at a time, and makes Subscribe's promise hold:
	// a Subscribe that returned before this lock was taken set the flag.
	if c.subscribed {
		if deliver := b.deliver.Load(); deliver != nil {
			(*deliver)(p)
		}
	}
	return stream.PublishResult{Position: p.Position()}, nil
}

// keyTTL is how long an idempotency key is remembered when its request asked
// for d.
func keyTTL(d time.Duration) time.Duration {
	if d <= 0 {
		return stream.DefaultKeyTTL
	}
	return d
}
