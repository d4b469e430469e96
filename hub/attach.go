package hub

import (
	"context"
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// A channel's broker subscription is made by a goroutine of the hub's, not
// by the subscriber that created the channel, and no lock is held while it
// runs: a broker that stalls in Subscribe stalls only the subscribers of
// that channel, each of which waits for it with its own context, and never
// another channel of the same shard. Its Unsubscribe runs the same way once
// the channel's last local subscriber left. The two are ordered per channel
// name: a channel joined again while its previous instance is being
// unsubscribed waits for that Unsubscribe before it subscribes, so the node
// never ends up unsubscribed at the broker from a channel it has
// subscribers for.

// add makes sub one of ch's local subscribers as of join/leave event seq
// (see joinLeave.seq). The caller holds the shard's lock, so the channel
// cannot leave meanwhile.
func (ch *channel) add(sub *subscription, seq uint64) {
	ch.mu.Lock()
	sub.since = seq
	sub.idx = len(ch.subs)
	ch.subs = append(ch.subs, sub)
	sub.ch.Store(ch)
	ch.mu.Unlock()
}

// attach adds sub to the channel and waits, with ctx, until the node is
// subscribed to it at the broker; the channel's first local subscriber
// starts that subscription. It fails with the broker's error, or ctx's,
// having detached sub.
func (h *Hub) attach(ctx context.Context, name string, sub *subscription) (*channel, error) {
	sh := h.shardOf(name)
	sh.mu.Lock()
	ch := sh.channels[name]
	created := ch == nil
	var prev chan struct{}
	if created {
		ch = &channel{name: name, ready: make(chan struct{})}
		sh.channels[name] = ch
		prev = sh.leaving[name]
	}
	ch.add(sub, h.pres.jl.seq.Load())
	sh.mu.Unlock()
	h.stats.subscriptions.Add(1)
	if created {
		h.bg.Add(1)
		go h.subscribeChannel(sh, ch, prev)
	}
	// A channel the node is subscribed to already waits for nothing, and
	// asks nothing of ctx (whose Done may cost a timer: see callCtx).
	if !isClosed(ch.ready) {
		select {
		case <-ch.ready:
		case <-ctx.Done():
			h.detach(sub)
			return nil, fmt.Errorf("subscribe %q: %w", name, asUnavailable(ctx.Err()))
		}
	}
	if ch.err != nil {
		h.detach(sub)
		return nil, ch.err
	}
	return ch, nil
}

// subscribeChannel subscribes the node to ch at the broker, after prev (the
// Unsubscribe of the channel's previous instance, if any) is done, and
// opens ch.ready. A failed channel leaves the shard, so that the next
// subscriber tries again; its subscribers fail with the error.
func (h *Hub) subscribeChannel(sh *shard, ch *channel, prev chan struct{}) {
	defer h.bg.Done()
	ctx, cancel := h.brokerCtx(h.bgCtx)
	defer cancel()
	var err error
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			err = fmt.Errorf("subscribe %q: waiting for its previous unsubscribe: %w", ch.name, ctx.Err())
		}
	}
	if err == nil {
		sh.mu.RLock()
		live := sh.channels[ch.name] == ch
		sh.mu.RUnlock()
		if !live {
			// Every subscriber left already: nothing to subscribe for.
			err = fmt.Errorf("subscribe %q: %w", ch.name, stream.ErrClosed)
		} else {
			err = h.cfg.Broker.Subscribe(ctx, ch.name)
		}
	}
	if err != nil {
		ch.err = asUnavailable(err)
		sh.mu.Lock()
		if sh.channels[ch.name] == ch {
			delete(sh.channels, ch.name)
		}
		sh.mu.Unlock()
	}
	close(ch.ready)
}

// detach removes sub from its channel; the channel's last local subscriber
// to leave starts the node's Unsubscribe at the broker (see leave), which
// detach does not wait for. Detaching twice, or a subscription that was
// never attached, does nothing.
func (h *Hub) detach(sub *subscription) {
	ch := sub.ch.Load()
	if ch == nil {
		return
	}
	ch.mu.Lock()
	if sub.detached {
		ch.mu.Unlock()
		return
	}
	sub.detached = true
	sub.buffer = nil
	sub.session.release(sub.buffered)
	sub.buffered = 0
	last := len(ch.subs) - 1
	moved := ch.subs[last]
	ch.subs[sub.idx] = moved
	moved.idx = sub.idx
	ch.subs[last] = nil
	ch.subs = ch.subs[:last]
	empty := len(ch.subs) == 0
	ch.mu.Unlock()
	h.stats.subscriptions.Add(-1)
	if !empty {
		return
	}
	// attach adds under the shard's lock, so the channel is still empty
	// here exactly when nobody joined it meanwhile.
	sh := h.shardOf(ch.name)
	sh.mu.Lock()
	ch.mu.Lock()
	gone := len(ch.subs) == 0 && sh.channels[ch.name] == ch
	ch.mu.Unlock()
	var done chan struct{}
	if gone {
		delete(sh.channels, ch.name)
		done = make(chan struct{})
		sh.leaving[ch.name] = done
	}
	sh.mu.Unlock()
	if gone {
		h.bg.Add(1)
		go h.leave(sh, ch, done)
	}
}

// leave unsubscribes the node from a channel that has no local subscriber
// left, once its Subscribe has returned, and then closes done.
func (h *Hub) leave(sh *shard, ch *channel, done chan struct{}) {
	defer h.bg.Done()
	defer func() {
		sh.mu.Lock()
		if sh.leaving[ch.name] == done {
			delete(sh.leaving, ch.name)
		}
		sh.mu.Unlock()
		close(done)
	}()
	<-ch.ready // bounded by the broker timeout
	if ch.err != nil {
		return // never subscribed
	}
	ctx, cancel := h.brokerCtx(h.bgCtx)
	defer cancel()
	err := h.cfg.Broker.Unsubscribe(ctx, ch.name)
	switch {
	case err == nil:
	case h.bgCtx.Err() != nil:
		// The node is stopping: its broker calls have ended, and the
		// broker forgets the node's subscriptions as it closes.
		h.cfg.Logger.Debug("broker unsubscribe skipped: the node is stopping", "channel", ch.name)
	default:
		h.cfg.Logger.Warn("broker unsubscribe failed", "channel", ch.name, "err", asUnavailable(err))
	}
}
