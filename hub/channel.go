package hub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

const numShards = 64

// shard holds a slice of the node's channels. mu guards the map; opMu
// serializes broker Subscribe/Unsubscribe calls for the shard's channels, so
// a channel emptied and joined again at the same moment never ends up
// unsubscribed at the broker. Fan-out takes neither opMu nor mu for long.
type shard struct {
	opMu     sync.Mutex
	mu       sync.RWMutex
	channels map[string]*channel
}

// channel is one channel with local subscribers.
type channel struct {
	name string

	mu   sync.Mutex
	subs []*subscription
	// last is the newest publication delivered, to drop a broker's repeats.
	last stream.Position
}

// subscription links a session to a channel. While recovering, live
// publications are buffered until the replay from history is queued.
type subscription struct {
	session *Session
	name    string
	ch      *channel // set while attached; guarded by the shard's opMu
	idx     int      // position in ch.subs; guarded by ch.mu

	recovering bool
	detached   bool // guarded by ch.mu
	buffer     []Item
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
	// Replayed counts the publications queued from history.
	Replayed int
}

// Subscribe joins a channel. With opts.Since, the publications after that
// position are queued in order ahead of live ones, with no gap and no
// duplicate; if they cannot all be replayed (history too short, epoch
// changed), none are and Recovered is false, so the application can reload
// its state.
func (s *Session) Subscribe(ctx context.Context, name string, opts SubscribeOptions) (SubscribeResult, error) {
	h := s.hub
	ns, err := s.authorize(stream.ActionSubscribe, name)
	if err != nil {
		return SubscribeResult{}, err
	}
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

	res, err := h.join(ctx, name, sub, opts)
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

// join attaches sub to the channel, reads history, and merges it with what
// was buffered meanwhile.
func (h *Hub) join(ctx context.Context, name string, sub *subscription, opts SubscribeOptions) (SubscribeResult, error) {
	ch, err := h.attach(ctx, name, sub)
	if err != nil {
		return SubscribeResult{}, err
	}
	q := stream.HistoryQuery{}
	if opts.Since != nil {
		q.Since = opts.Since
		q.Limit = h.cfg.MaxRecovery + 1
	}
	page, err := h.cfg.Broker.History(ctx, name, q)
	if err != nil {
		h.detach(sub)
		return SubscribeResult{}, err
	}
	res := SubscribeResult{Channel: name, Latest: page.Latest, Recovered: opts.Since == nil}
	var replay []*stream.Publication
	if opts.Since != nil && recoverable(page, *opts.Since) {
		res.Recovered = true
		replay = page.Publications
		res.Replayed = len(replay)
	}

	// Encode outside the channel lock: a long replay must not hold up
	// fan-out to the channel's other subscribers.
	s := sub.session
	items := make([]Item, 0, len(replay)+1)
	if opts.Reply != nil {
		items = append(items, Item{Bytes: opts.Reply(res)})
	}
	for _, p := range replay {
		items = append(items, Item{Pub: p, Bytes: s.enc.Publication(p)})
	}
	ch.mu.Lock()
	if sub.detached {
		ch.mu.Unlock()
		return SubscribeResult{}, stream.ErrClosed
	}
	for _, it := range items {
		s.push(it, false)
	}
	for _, it := range sub.buffer {
		if it.Pub.Epoch == page.Latest.Epoch && it.Pub.Offset <= page.Latest.Offset {
			continue // already in history, or before this subscription began
		}
		s.push(it, true)
	}
	sub.recovering = false
	sub.buffer = nil
	sub.floor = page.Latest
	ch.mu.Unlock()
	h.stats.replayed.Add(uint64(len(replay)))
	return res, nil
}

// recoverable reports whether page holds exactly the publications after
// since, contiguous up to the channel's latest offset.
func recoverable(page stream.HistoryPage, since stream.Position) bool {
	if !page.Recoverable(since) {
		return false
	}
	want := since.Offset + 1
	for _, p := range page.Publications {
		if p.Offset != want {
			return false
		}
		want++
	}
	return want == page.Latest.Offset+1
}

// attach adds sub to the channel, subscribing the node at the broker when it
// is the channel's first local subscriber.
func (h *Hub) attach(ctx context.Context, name string, sub *subscription) (*channel, error) {
	sh := h.shardOf(name)
	sh.opMu.Lock()
	defer sh.opMu.Unlock()
	sh.mu.Lock()
	ch := sh.channels[name]
	created := ch == nil
	if created {
		ch = &channel{name: name}
		sh.channels[name] = ch
	}
	ch.mu.Lock()
	sub.idx = len(ch.subs)
	ch.subs = append(ch.subs, sub)
	ch.mu.Unlock()
	sh.mu.Unlock()
	sub.ch = ch
	h.stats.subscriptions.Add(1)
	if created {
		if err := h.cfg.Broker.Subscribe(ctx, name); err != nil {
			h.detachLocked(sh, sub)
			return nil, err
		}
	}
	return ch, nil
}

// detach removes sub from its channel, unsubscribing the node at the broker
// when the channel has no local subscriber left.
func (h *Hub) detach(sub *subscription) {
	sh := h.shardOf(sub.name)
	sh.opMu.Lock()
	defer sh.opMu.Unlock()
	h.detachLocked(sh, sub)
}

func (h *Hub) detachLocked(sh *shard, sub *subscription) {
	ch := sub.ch
	if ch == nil {
		return
	}
	sub.ch = nil
	ch.mu.Lock()
	sub.detached = true
	sub.buffer = nil
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
	sh.mu.Lock()
	delete(sh.channels, ch.name)
	sh.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.cfg.Broker.Unsubscribe(ctx, ch.name); err != nil {
		h.cfg.Logger.Warn("broker unsubscribe failed", "channel", ch.name, "err", err)
	}
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
	ch.last = p.Position()
	for _, sub := range ch.subs {
		if !sub.recovering && p.Offset <= sub.floor.Offset && p.Epoch == sub.floor.Epoch {
			continue // replayed already, or from before the subscription
		}
		it := Item{Pub: p, Bytes: cache.get(sub.session.enc, p)}
		if sub.recovering {
			sub.buffer = append(sub.buffer, it)
			continue
		}
		sub.session.push(it, true)
	}
	n := len(ch.subs)
	ch.mu.Unlock()
	h.stats.deliveries.Add(uint64(n))
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
