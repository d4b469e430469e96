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

const numShards = 64

// shard holds a slice of the node's channels. mu guards the maps and is
// never held across a broker call (see attach.go). leaving holds, per
// channel name, the Unsubscribe in flight of a channel that lost its last
// local subscriber, closed when it is done.
type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
	leaving  map[string]chan struct{}
}

// channel is one channel with local subscribers.
type channel struct {
	name string
	// ready is closed once the node's Subscribe at the broker returned;
	// err, set before, is its error (see subscribeChannel).
	ready chan struct{}
	err   error

	mu   sync.Mutex
	subs []*subscription
	// last is the newest publication delivered, to drop a broker's repeats.
	last stream.Position
	// pending are the direct writes claimed by fan-out and not yet taken by
	// the channel's pass; passing says a pass runs (see Hub.pass). spare is
	// the pass's other buffer, swapped with pending.
	pending []directWrite
	spare   []directWrite
	passing bool
}

// directWrite is one claimed delivery: the connection and the
// publication with its bytes, shared by every subscriber.
type directWrite struct {
	d  Direct
	it Item
}

// subscription links a session to a channel. While recovering, live
// publications are buffered until the replay from history is queued. The
// buffer holds at most liveBufferCap bytes: live publications are in
// history too, so one that would take it over drops the whole buffer and
// the replay reads them from history instead (see finishReplay).
type subscription struct {
	session *Session
	name    string
	ch      atomic.Pointer[channel] // set once by attach; detached says when it left
	idx     int                     // position in ch.subs; guarded by ch.mu

	recovering bool
	// since is the hub's join/leave sequence when the subscription was
	// added: it is pushed only joins and leaves numbered after it.
	since uint64
	// stalled: a NoWait replay was cut short; the subscription takes
	// nothing more, so the queue stays a gap-free prefix of the channel.
	// Guarded by ch.mu.
	stalled  bool
	detached bool // guarded by ch.mu
	buffer   []Item
	// buffered counts buffer's bytes, which the session counts against its
	// queue limit (Session.hold). Guarded by ch.mu.
	buffered int
	// overflowed: the buffer was dropped since finishReplay last looked,
	// so the replay must read on from history up to the channel's last
	// position before it switches to live delivery. While it is set,
	// nothing is buffered: history has it all. Guarded by ch.mu.
	overflowed bool
	// floor is the channel's latest position when the subscription read
	// history: a broker may still deliver publications up to it (it fills
	// gaps around a new Subscribe), and those were replayed or are before
	// the subscription. Guarded by ch.mu.
	floor stream.Position
}

func (h *Hub) shardOf(name string) *shard {
	return &h.shards[stream.ChannelHash(name)%numShards]
}

// SubscribeOptions describe one subscription.
type SubscribeOptions struct {
	// Since is the position the client has. Nil subscribes live from now.
	Since *stream.Position
	// Reply, when set, encodes the reply that must reach the client before
	// any replayed or live publication; it is queued ahead of them.
	Reply func(SubscribeResult) []byte
	// NoWait cuts a replay that does not fit the session's queue limit
	// instead of waiting for the writer to drain the queue: the queue then
	// holds the publications after Since that fit (at least one), the
	// subscription takes nothing more, and SubscribeResult.Truncated is
	// true. A poll, whose answer is what its queue holds, subscribes so.
	NoWait bool
	// EpochStart: when Since names another epoch than the channel's (its
	// history was replaced since), queue the new epoch's history from its
	// start rather than start live, so that what the client is told to
	// follow has no hole; Recovered is still false and Start says where
	// the queue begins. A poll subscribes so: between two polls, its
	// cursor is all the client has, and a poll that started live would
	// skip the new epoch's publications made before it.
	EpochStart bool
}

// SubscribeResult is the outcome of a subscribe.
type SubscribeResult struct {
	Channel string
	// Latest is the channel's epoch and newest offset when subscribing.
	Latest stream.Position
	// Recovered is false only when Since was given and the publications
	// after it could not all be replayed (history too short, epoch
	// changed): the application should reload its state. A subscription
	// without Since missed nothing, so it is true.
	Recovered bool
	// Replayed counts the publications to replay from history: queued
	// already, or still to come when the replay waits for the writer.
	Replayed int
	// Truncated: NoWait cut the replay short (see SubscribeOptions.NoWait).
	Truncated bool
	// Start is the position the queued publications follow: Since when
	// recovered, the start of the new epoch's history with
	// SubscribeOptions.EpochStart, Latest otherwise.
	Start stream.Position
}

// Subscribe joins a channel. With opts.Since, the publications after that
// position are queued in order ahead of live ones, with no gap and no
// duplicate; if they cannot all be replayed (history too short, epoch
// changed), none are and Recovered is false, so the application can reload
// its state. Live publications that arrive during a long replay are held up
// to a cap and beyond it replayed from history too (see [Config.QueueLimit]).
func (s *Session) Subscribe(ctx context.Context, name string, opts SubscribeOptions) (SubscribeResult, error) {
	h := s.hub
	ns, err := s.authorize(stream.ActionSubscribe, name)
	if err != nil {
		return SubscribeResult{}, err
	}
	// A poll that keeps up joins without a broker call (see joinNow), so
	// its context is tied to the session's end only when it must wait.
	unbound := ctx
	ctx, done := ctx, func() {}
	bind := func() context.Context {
		ctx, done = s.bind(unbound)
		return ctx
	}
	defer func() { done() }()
	sub := &subscription{session: s, name: name, recovering: true}
	s.mu.Lock()
	switch {
	case s.ending:
		s.mu.Unlock()
		return SubscribeResult{}, stream.ErrClosed
	case s.subs[name] != nil:
		s.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("%w: %s", stream.ErrAlreadySubscribed, name)
	case len(s.subs) >= h.cfg.MaxChannels:
		s.mu.Unlock()
		return SubscribeResult{}, fmt.Errorf("%w: at most %d channels per connection", stream.ErrLimitExceeded, h.cfg.MaxChannels)
	}
	if s.subs == nil {
		s.subs = make(map[string]*subscription, 1)
	}
	s.subs[name] = sub
	s.mu.Unlock()

	res, ok := h.joinNow(name, sub, opts, s.noPres || !h.presenceOn(ns))
	if !ok {
		res, err = h.join(bind(), name, sub, opts)
	}
	if err != nil {
		s.mu.Lock()
		if s.subs[name] == sub {
			delete(s.subs, name)
		}
		s.mu.Unlock()
		return SubscribeResult{}, err
	}
	// A Close that ran while joining missed this subscription.
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		h.detach(sub)
		return SubscribeResult{}, stream.ErrClosed
	}
	if h.presenceOn(ns) && !s.noPres {
		h.presenceJoin(ctx, s, sub)
	}
	return res, nil
}

// Unsubscribe leaves a channel.
func (s *Session) Unsubscribe(name string) error {
	s.mu.Lock()
	sub := s.subs[name]
	delete(s.subs, name)
	s.mu.Unlock()
	if sub == nil {
		return fmt.Errorf("%w: %s", stream.ErrNotSubscribed, name)
	}
	s.hub.detach(sub)
	s.hub.presenceLeave(s, name)
	return nil
}

// join attaches sub to the channel, reads the first page of history, and
// queues the reply and the replay ahead of the live publications buffered
// meanwhile. A replay that does not fit in half the session's queue limit
// is cut (NoWait) or continued by a goroutine of the session's that waits
// for the writer to drain the queue before each publication (see
// replayRest): Subscribe returns without waiting, so a transport whose
// writer runs in the same goroutine can start writing.
func (h *Hub) join(ctx context.Context, name string, sub *subscription, opts SubscribeOptions) (SubscribeResult, error) {
	ch := sub.ch.Load() // attached already by joinNow, which could not finish
	if ch == nil {
		var err error
		if ch, err = h.attach(ctx, name, sub); err != nil {
			return SubscribeResult{}, err
		}
		if res, ok := h.joinCurrent(ch, sub, opts); ok {
			return res, nil
		}
	}
	q := stream.HistoryQuery{}
	if opts.Since != nil {
		q.Since = opts.Since
		q.Limit = h.pageSize()
	}
	page, err := h.readHistory(ctx, name, q)
	if err != nil {
		h.detach(sub)
		return SubscribeResult{}, err
	}
	res := SubscribeResult{Channel: name, Latest: page.Latest, Recovered: opts.Since == nil, Start: page.Latest}
	// Without a replay, live delivery starts after Latest; the replay state
	// is still there, empty, for the live publications that overflow the
	// buffer meanwhile (see finishReplay).
	st := &replayState{next: page.Latest.Offset + 1, end: page.Latest}
	if since := opts.Since; since != nil && page.Recoverable(*since) && page.Latest.Offset-since.Offset <= uint64(h.cfg.MaxRecovery) {
		// The first page must start the replay; later ones are checked as
		// they are read.
		next := since.Offset + 1
		if next > page.Latest.Offset || (len(page.Publications) > 0 && page.Publications[0].Offset == next) {
			st = &replayState{next: next, end: page.Latest, page: page.Publications}
			res.Recovered = true
			res.Replayed = int(page.Latest.Offset - since.Offset)
			res.Start = *since
		}
	} else if since != nil && opts.EpochStart {
		if first, ok := h.epochStart(*since, page); ok {
			st = &replayState{next: first, end: page.Latest}
			res.Replayed = int(page.Latest.Offset - first + 1)
			res.Start = stream.Position{Epoch: page.Latest.Epoch, Offset: first - 1}
		}
	}

	s := sub.session
	if opts.Reply != nil {
		s.push(Item{Bytes: opts.Reply(res)}, true)
	}
	fit := s.room
	if opts.NoWait {
		fit = s.fits
	}
	live, err := h.catchUp(ctx, sub, st, fit)
	switch {
	case err != nil:
		h.detach(sub)
		return SubscribeResult{}, err
	case live:
	case opts.NoWait:
		res.Truncated = true
		h.stall(sub)
	default:
		s.mu.Lock()
		started := !s.ending
		if started {
			s.replays.Add(1)
		}
		s.mu.Unlock()
		if !started {
			return SubscribeResult{}, stream.ErrClosed
		}
		go h.replayRest(sub, st)
	}
	if sub.isDetached() {
		return SubscribeResult{}, stream.ErrClosed
	}
	return res, nil
}

// replayStall is how long a replay waits for the writer to take anything
// before it ends the session as slow. Writers have their own write
// deadlines; this bounds a writer that takes nothing at all.
const replayStall = 30 * time.Second

// maxReplayPage is the most publications the hub reads from the broker at
// once for a replay or a history reply.
const maxReplayPage = 100

// pageSize is how many publications one replay read asks for: at most
// maxReplayPage, and few enough that a page of the largest publications
// stays within the queue limit, since the replay holds the page it read
// until it is queued.
func (h *Hub) pageSize() int {
	return min(maxReplayPage, max(1, h.cfg.QueueLimit/h.cfg.MaxMessageSize))
}

// replayState is where a replay stands: the next offset to queue, the
// position live delivery takes over after (the channel's position when the
// subscription read history, moved on by finishReplay when live
// publications overflowed the buffer), and the publications read and not
// yet queued.
type replayState struct {
	next uint64
	end  stream.Position
	page []*stream.Publication
}

// errReplayGap: the history a replay was reading moved on under it (it was
// trimmed, or its epoch changed) before the replay could queue it.
var errReplayGap = errors.New("history moved on during the replay")

// replayStep queues publications of the replay while fit allows, reading
// history in pages. It reports whether the replay is complete.
func (h *Hub) replayStep(ctx context.Context, sub *subscription, st *replayState, fit func(n int) bool) (bool, error) {
	s := sub.session
	for st.next <= st.end.Offset {
		if len(st.page) == 0 {
			since := stream.Position{Epoch: st.end.Epoch, Offset: st.next - 1}
			page, err := h.readHistory(ctx, sub.name, stream.HistoryQuery{Since: &since, Limit: h.pageSize()})
			if err != nil {
				return false, err
			}
			if len(page.Publications) == 0 {
				return false, errReplayGap
			}
			st.page = page.Publications
		}
		p := st.page[0]
		if p.Epoch != st.end.Epoch || p.Offset != st.next {
			return false, errReplayGap
		}
		it := Item{Pub: p, Bytes: s.enc.Publication(p)}
		if !fit(len(it.Bytes)) {
			return false, nil
		}
		if !s.push(it, true) {
			return false, stream.ErrClosed
		}
		h.stats.replayed.Add(1)
		st.page[0] = nil
		st.page = st.page[1:]
		st.next++
	}
	st.page = nil
	return true, nil
}

// catchUp queues the replay while fit allows and, once it reaches its end,
// switches the subscription to live delivery (finishReplay), reading on
// from history for as long as live publications overflowed the buffer
// meanwhile. It reports whether the subscription is live; false with no
// error means fit refused the next publication.
func (h *Hub) catchUp(ctx context.Context, sub *subscription, st *replayState, fit func(n int) bool) (bool, error) {
	for {
		done, err := h.replayStep(ctx, sub, st, fit)
		if !done || err != nil {
			return false, err
		}
		if live, err := h.finishReplay(sub, st); live || err != nil {
			return live, err
		}
	}
}

// replayRest queues the rest of a replay, waiting before each publication
// for the queue to be under half its limit, then merges the live
// publications buffered meanwhile. The session owns it: Disconnect stops
// it and Close waits for it.
func (h *Hub) replayRest(sub *subscription, st *replayState) {
	s := sub.session
	defer s.replays.Done()
	ctx := s.replayCtx
	for {
		if !s.waitDrain(ctx, replayStall) {
			return
		}
		live, err := h.catchUp(ctx, sub, st, s.room)
		switch {
		case live:
			return
		case errors.Is(err, errReplayGap):
			// The client resumes from its last position and learns then
			// that history no longer has it (recovered: false).
			s.slow()
			return
		case err != nil:
			if ctx.Err() == nil {
				h.cfg.Logger.Warn("replay failed", "client", s.id, "channel", sub.name, "err", err)
				s.Disconnect(stream.ErrUnavailable)
			}
			return
		}
	}
}

// liveBufferCap is the most bytes of live publications one subscription
// buffers while it replays: a quarter of the queue limit, so that the
// replay's half and the buffer leave room for replies and other channels.
func (h *Hub) liveBufferCap() int { return h.cfg.QueueLimit / 4 }

// hold buffers a live publication for a subscription that is replaying, or
// drops the whole buffer when it would take it over limit (liveBufferCap)
// or the session over its queue limit: the publications are in history, and
// finishReplay has the replay read on to them instead. A busy channel thus
// does not end a resuming subscriber; a writer that takes nothing still
// does (see Session.waitDrain). The caller holds the channel's lock.
func (sub *subscription) hold(it Item, limit int) {
	n := len(it.Bytes)
	if sub.buffered+n <= limit && sub.session.hold(n) {
		sub.buffer = append(sub.buffer, it)
		sub.buffered += n
		return
	}
	sub.drop()
	sub.overflowed = true
}

// drop empties the live buffer, releasing its bytes. The caller holds the
// channel's lock.
func (sub *subscription) drop() {
	sub.session.release(sub.buffered)
	clear(sub.buffer)
	sub.buffer = sub.buffer[:0]
	sub.buffered = 0
}

// finishReplay ends a subscription's recovery once the replay reached
// st.end: the live publications buffered meanwhile are queued, but for
// those at or before st.end, which were replayed or are from before the
// subscription. If the buffer overflowed since the last call, it moves
// st.end on to the channel's last position instead and reports false: the
// replay reads on from history, and a later call finishes. Under the
// channel's lock no publication slips between the replay and live
// delivery. A channel whose epoch changed meanwhile cannot be caught up
// from history (errReplayGap).
func (h *Hub) finishReplay(sub *subscription, st *replayState) (bool, error) {
	ch := sub.ch.Load()
	if ch == nil {
		return true, nil // detached before the replay was queued
	}
	s := sub.session
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if sub.detached {
		return true, nil
	}
	end := st.end
	if sub.overflowed {
		sub.overflowed = false
		if ch.last.Epoch != end.Epoch {
			return false, errReplayGap
		}
		if ch.last.Offset > end.Offset {
			st.end = ch.last
		}
		return false, nil
	}
	s.release(sub.buffered)
	at := end
	for _, it := range sub.buffer {
		if it.Pub.Epoch == end.Epoch && it.Pub.Offset <= end.Offset {
			continue // already in history, or before this subscription began
		}
		if it.Pub.Epoch != at.Epoch {
			s.push(gapItem(s.enc, &Gap{Channel: sub.name, From: at, Epoch: it.Pub.Epoch}), false)
		}
		at = it.Pub.Position()
		s.push(it, false)
	}
	sub.recovering = false
	sub.buffer = nil
	sub.buffered = 0
	sub.floor = end
	return true, nil
}

// stall ends a cut replay's subscription's delivery (see
// SubscribeOptions.NoWait).
func (h *Hub) stall(sub *subscription) {
	ch := sub.ch.Load()
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	sub.session.release(sub.buffered)
	sub.stalled = true
	sub.recovering = false
	sub.buffer = nil
	sub.buffered = 0
}

func (sub *subscription) isDetached() bool {
	ch := sub.ch.Load()
	if ch == nil {
		return true
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return sub.detached
}

// deliver fans a publication from the broker out to the channel's local
// subscribers, encoding it once per Encoder.
func (h *Hub) deliver(p *stream.Publication) {
	sh := h.shardOf(p.Channel)
	sh.mu.RLock()
	ch := sh.channels[p.Channel]
	sh.mu.RUnlock()
	if ch == nil {
		return
	}
	var cache encodings
	ch.mu.Lock()
	if ch.last.Epoch == p.Epoch && p.Offset <= ch.last.Offset {
		ch.mu.Unlock()
		return // a broker's repeat: already delivered
	}
	prev := ch.last
	ch.last = p.Position()
	capacity := h.liveBufferCap()
	var gaps gapEncodings
	for _, sub := range ch.subs {
		if sub.stalled {
			continue
		}
		if !sub.recovering && p.Offset <= sub.floor.Offset && p.Epoch == sub.floor.Epoch {
			continue // replayed already, or from before the subscription
		}
		if sub.recovering && sub.overflowed {
			continue // the replay reads it from history
		}
		it := Item{Pub: p, Bytes: cache.get(sub.session.enc, p)}
		if sub.recovering {
			sub.hold(it, capacity)
			continue
		}
		if from, ok := epochChange(prev, sub.floor, p); ok {
			// Told before the first publication of the new epoch: the
			// subscriber never switches epochs silently.
			sub.session.push(gaps.item(sub.session.enc, from, p), false)
		} else if d := sub.session.direct; d != nil && d.Claim() {
			ch.pending = append(ch.pending, directWrite{d: d, it: it})
			continue
		}
		sub.session.push(it, false)
	}
	n := len(ch.subs)
	start := len(ch.pending) > 0 && !ch.passing
	if start {
		ch.passing = true
		h.passes.Add(1)
	}
	ch.mu.Unlock()
	h.stats.deliveries.Add(uint64(n))
	if start {
		go h.pass(ch)
	}
}

// maxKeptPending bounds the direct-write buffers a channel keeps between
// passes, so one burst on a huge channel does not pin them for ever.
const maxKeptPending = 1 << 14

// pass makes the direct writes fan-out claimed on ch, in the order claimed,
// with no lock held, until none is left. One pass runs per channel at a
// time: deliver starts it and it ends when it finds nothing pending. It
// runs in a goroutine of its own rather than in deliver, whose caller may
// hold a broker lock (the memory broker's channel lock) or be the relay
// of every channel (Redis, NATS). Publications that reach a claimed
// connection before the pass does are queued behind the claim, and its
// WriteNow sends them in the same write.
func (h *Hub) pass(ch *channel) {
	defer h.passes.Done()
	var batch []directWrite
	for {
		ch.mu.Lock()
		if len(ch.pending) == 0 {
			ch.passing = false
			if cap(batch) <= maxKeptPending {
				ch.spare = batch[:0]
			}
			ch.mu.Unlock()
			return
		}
		if batch == nil {
			batch = ch.spare
			ch.spare = nil
		}
		batch, ch.pending = ch.pending, batch[:0]
		ch.mu.Unlock()
		for i := range batch {
			batch[i].d.WriteNow(batch[i].it)
			batch[i] = directWrite{}
		}
	}
}

// encodings caches one publication's bytes per Encoder during one fan-out.
// A node has a handful of encoders, so a small array beats a map.
type encodings struct {
	n    int
	encs [4]Encoder
	b    [4][]byte
	more map[Encoder][]byte
}

func (c *encodings) get(e Encoder, p *stream.Publication) []byte {
	for i := 0; i < c.n; i++ {
		if c.encs[i] == e {
			return c.b[i]
		}
	}
	if b, ok := c.more[e]; ok {
		return b
	}
	b := e.Publication(p)
	if c.n < len(c.encs) {
		c.encs[c.n], c.b[c.n] = e, b
		c.n++
		return b
	}
	if c.more == nil {
		c.more = make(map[Encoder][]byte)
	}
	c.more[e] = b
	return b
}
