package hub

// A poll opens a session and subscribes for every request, with the
// position its cursor carries. A client that keeps up polls again from the
// newest publication it was given, which is nearly always the newest this
// node delivered on the channel: there is nothing to replay, so reading
// history (a broker call under its own timeout) to learn that would be the
// most expensive part of the poll. joinCurrent lets such a subscription
// go live at once instead.

// joinCurrent starts sub live right after opts.Since, reading no history,
// when that is the newest position the node delivered on the channel and
// nothing was delivered since sub was attached. Every later publication
// then reaches sub through the fan-out, as it reaches every live
// subscriber of the channel, and an epoch that changes later is told with
// a Gap as it is to them. It reports false, changing nothing, when the
// subscription must read history instead: the client is behind or ahead of
// the node, the channel delivered nothing yet on this node, or
// publications were buffered for sub meanwhile.
//
// Only polls take this path (opts.NoWait, no Reply): their answer is what
// the session's queue holds, so they have no reply to queue ahead.
func (h *Hub) joinCurrent(ch *channel, sub *subscription, opts SubscribeOptions) (SubscribeResult, bool) {
	since := opts.Since
	if since == nil || !opts.NoWait || opts.Reply != nil {
		return SubscribeResult{}, false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if sub.detached || sub.overflowed || len(sub.buffer) > 0 ||
		ch.last.Epoch == "" || ch.last != *since {
		return SubscribeResult{}, false
	}
	sub.recovering = false
	sub.floor = ch.last
	return SubscribeResult{Channel: sub.name, Latest: ch.last, Recovered: true, Start: ch.last}, true
}

// joinNow is joinCurrent for a channel the node is subscribed to already,
// without waiting and without a context: it attaches sub when the
// channel's broker subscription is in place, and reports whether sub went
// live at once. When it attached sub but the subscription must read
// history, it reports false with sub attached, and join goes on from there
// (with a context bound to the session's end, which only a broker call
// needs). bare says that nothing after the join needs the context either
// (no presence to join).
func (h *Hub) joinNow(name string, sub *subscription, opts SubscribeOptions, bare bool) (SubscribeResult, bool) {
	if !bare || opts.Since == nil || !opts.NoWait || opts.Reply != nil {
		return SubscribeResult{}, false
	}
	sh := h.shardOf(name)
	sh.mu.Lock()
	ch := sh.channels[name]
	if ch == nil || !isClosed(ch.ready) || ch.err != nil {
		sh.mu.Unlock()
		return SubscribeResult{}, false
	}
	ch.add(sub, h.pres.jl.seq.Load())
	sh.mu.Unlock()
	h.stats.subscriptions.Add(1)
	return h.joinCurrent(ch, sub, opts)
}

// isClosed reports whether c is closed, without waiting.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
