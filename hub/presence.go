package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Presence keeps, for every node, the list of clients in each channel whose
// namespace has presence on, and carries join and leave events between
// nodes. Entries expire unless refreshed, so a node that dies leaves no
// entries behind for longer than their TTL. Memory and Redis implement it;
// broker/presencetest is the suite every implementation passes. All methods
// are safe for concurrent use. As with [Broker], an error names the
// operation and the channel, and the hub returns it as it is.
type Presence interface {
	// Run delivers join and leave events of every node until ctx ends,
	// calling deliver one event at a time. deliver must not block for long.
	Run(ctx context.Context, deliver func(channel string, join bool, client stream.ClientInfo)) error

	// Add adds a client to a channel, or refreshes its entry, for ttl. A
	// client that was not there yet is announced with a join event.
	Add(ctx context.Context, channel string, client stream.ClientInfo, ttl time.Duration) error

	// Remove takes a client out of a channel. A client that was there is
	// announced with a leave event; expired entries are announced with a
	// leave event too, when the implementation notices them.
	Remove(ctx context.Context, channel, client string) error

	// Clients lists the channel's entries that have not expired, in no
	// particular order.
	Clients(ctx context.Context, channel string) ([]stream.ClientInfo, error)
}

// numPresenceLocks stripes the locks that order Add and Remove of one entry.
const numPresenceLocks = 64

// presenceKey names one local entry: one session in one channel.
type presenceKey struct {
	channel string
	client  string
}

// presenceSet is this node's own entries: what it must refresh and remove.
// A key's stripe lock is held across the call to Presence, so an Add and a
// Remove of one entry reach the implementation in the order they happened.
type presenceSet struct {
	locks   [numPresenceLocks]sync.Mutex
	mu      sync.Mutex
	entries map[presenceKey]stream.ClientInfo
	jl      joinLeave
}

func (p *presenceSet) lock(k presenceKey) *sync.Mutex {
	m := &p.locks[stream.ChannelHash(k.channel+"\x00"+k.client)%numPresenceLocks]
	m.Lock()
	return m
}

// presenceOn reports whether the node keeps presence for channels of ns.
func (h *Hub) presenceOn(ns *stream.Namespace) bool {
	return h.cfg.Presence != nil && ns.Presence
}

// presenceJoin records that s subscribed to a channel with presence and
// adds it at the Presence implementation. A session that closed or left the
// channel meanwhile is not recorded, so no entry outlives its session.
func (h *Hub) presenceJoin(ctx context.Context, s *Session, sub *subscription) {
	k := presenceKey{sub.name, s.id}
	m := h.pres.lock(k)
	defer m.Unlock()
	s.mu.Lock()
	live := !s.closed && s.subs[sub.name] == sub
	if live {
		h.pres.mu.Lock()
		h.pres.entries[k] = s.info
		h.pres.mu.Unlock()
	}
	s.mu.Unlock()
	if !live {
		return
	}
	ctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	if err := h.cfg.Presence.Add(ctx, sub.name, s.info, h.cfg.PresenceTTL); err != nil {
		// The refresh loop tries again within a third of the TTL.
		h.cfg.Logger.Warn("presence add failed", "channel", sub.name, "client", s.id, "err", err)
	}
}

// presenceLeave removes s's entries in the channels, where it has one. One
// timeout bounds them all, so a session closing while the Presence
// implementation is unreachable is not held up once per channel.
func (h *Hub) presenceLeave(s *Session, channels ...string) {
	if h.cfg.Presence == nil || s.noPres {
		// A session kept out of presence (a poll's) has no entry here:
		// its transport's entries expire on their own.
		return
	}
	ctx, cancel := h.brokerCtx(context.Background())
	defer cancel()
	for _, channel := range channels {
		k := presenceKey{channel, s.id}
		m := h.pres.lock(k)
		h.pres.mu.Lock()
		_, ok := h.pres.entries[k]
		delete(h.pres.entries, k)
		h.pres.mu.Unlock()
		if ok {
			if err := h.cfg.Presence.Remove(ctx, channel, s.id); err != nil {
				// The entry expires on its own within the TTL.
				h.cfg.Logger.Warn("presence remove failed", "channel", channel, "client", s.id, "err", err)
			}
		}
		m.Unlock()
	}
}

// runPresence delivers join and leave events and refreshes this node's
// entries every third of the TTL, until ctx ends.
func (h *Hub) runPresence(ctx context.Context) error {
	h.pres.jl.kick = make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		h.runJoinLeave(ctx)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(h.cfg.PresenceTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.refreshPresence(ctx)
			}
		}
	}()
	err := h.cfg.Presence.Run(ctx, h.deliverPresence)
	wg.Wait()
	return err
}

// refreshWorkers bounds the Presence calls of one refresh in flight at
// once: enough for a remote implementation to pipeline them, so a node with
// many entries refreshes them all well within a third of the TTL.
const refreshWorkers = 32

func (h *Hub) refreshPresence(ctx context.Context) {
	h.pres.mu.Lock()
	keys := make([]presenceKey, 0, len(h.pres.entries))
	for k := range h.pres.entries {
		keys = append(keys, k)
	}
	h.pres.mu.Unlock()
	work := make(chan presenceKey)
	var wg sync.WaitGroup
	for range min(refreshWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				h.refreshOne(ctx, k)
			}
		}()
	}
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		work <- k
	}
	close(work)
	wg.Wait()
}

// refreshOne refreshes one entry if it is still this node's.
func (h *Hub) refreshOne(ctx context.Context, k presenceKey) {
	m := h.pres.lock(k)
	defer m.Unlock()
	h.pres.mu.Lock()
	info, ok := h.pres.entries[k]
	h.pres.mu.Unlock()
	if !ok {
		return
	}
	cctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	if err := h.cfg.Presence.Add(cctx, k.channel, info, h.cfg.PresenceTTL); err != nil && ctx.Err() == nil {
		h.cfg.Logger.Warn("presence refresh failed", "channel", k.channel, "client", k.client, "err", err)
	}
}

// presenceEvent is one join or leave waiting in a channel's batch.
type presenceEvent struct {
	join   bool
	client stream.ClientInfo
	seq    uint64 // when it arrived: see joinLeave.seq
}

// joinLeave holds the join and leave events that arrived since the last
// flush, per channel. Without it every join in a channel of N subscribers
// is N pushes, N queue appends and N writer wake-ups, and N clients joining
// cost the node N² of each: the connect rate of a busy presence channel
// falls with the square of its size. Batched, the joins of one interval
// are one push per subscriber.
type joinLeave struct {
	mu      sync.Mutex
	pending map[string][]presenceEvent
	kick    chan struct{} // a batch opened: flush after the interval
	// seq numbers the events in the order they arrive, and stamps each
	// subscription when it is added (subscription.since): a subscriber is
	// pushed only the events that arrived after it subscribed, not the
	// leave of a client that went away just before it came.
	seq atomic.Uint64
}

// deliverPresence takes a join or leave event from the Presence
// implementation. It is queued in the channel's batch, which the flusher
// pushes [Config.JoinLeaveInterval] after its first event; with a negative
// interval it is pushed at once.
func (h *Hub) deliverPresence(channel string, join bool, client stream.ClientInfo) {
	ns, err := h.cfg.Namespaces.Lookup(channel)
	if err != nil || !ns.Presence || !ns.JoinLeave {
		return
	}
	jl := &h.pres.jl
	ev := presenceEvent{join: join, client: client}
	if h.cfg.JoinLeaveInterval < 0 {
		ev.seq = jl.seq.Add(1)
		h.pushPresence(channel, []presenceEvent{ev})
		return
	}
	jl.mu.Lock()
	ev.seq = jl.seq.Add(1) // under mu: a batch is in the order of seq
	if jl.pending == nil {
		jl.pending = make(map[string][]presenceEvent)
	}
	opened := len(jl.pending) == 0
	jl.pending[channel] = append(jl.pending[channel], ev)
	jl.mu.Unlock()
	if opened {
		select {
		case jl.kick <- struct{}{}:
		default: // a flush is already due
		}
	}
}

// runJoinLeave flushes the batches of join and leave events, one interval
// after the first event of each round, until ctx ends.
func (h *Hub) runJoinLeave(ctx context.Context) {
	jl := &h.pres.jl
	t := time.NewTimer(h.cfg.JoinLeaveInterval)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-jl.kick:
		}
		t.Reset(h.cfg.JoinLeaveInterval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		jl.mu.Lock()
		batches := jl.pending
		jl.pending = nil
		jl.mu.Unlock()
		for channel, events := range batches {
			h.pushPresence(channel, events)
		}
	}
}

// pushPresence pushes a batch of join and leave events of one channel to
// its local subscribers: one push per subscriber holding every event in
// order, encoded once per Encoder (each event as the transport's own
// join or leave frame, back to back). A subscription still replaying gets
// no event: its reply and replay come first, and presence is not
// replayed, and a subscription gets only the events that arrived after it
// was added. A channel with more local subscribers than
// [Config.JoinLeaveLimit] gets none: its subscribers list the channel's
// presence when they need it.
func (h *Hub) pushPresence(channel string, events []presenceEvent) {
	sh := h.shardOf(channel)
	sh.mu.RLock()
	ch := sh.channels[channel]
	sh.mu.RUnlock()
	if ch == nil {
		return
	}
	ch.mu.Lock()
	if h.cfg.JoinLeaveLimit > 0 && len(ch.subs) > h.cfg.JoinLeaveLimit {
		ch.mu.Unlock()
		return
	}
	type target struct {
		s    *Session
		from int // the first of events that arrived after it subscribed
	}
	subs := make([]target, 0, len(ch.subs))
	for _, sub := range ch.subs {
		if sub.recovering || sub.stalled {
			continue
		}
		from := 0
		for from < len(events) && events[from].seq <= sub.since {
			from++
		}
		if from < len(events) {
			subs = append(subs, target{sub.session, from})
		}
	}
	ch.mu.Unlock()

	var encs [4]Encoder
	var bytes [4][]byte
	n := 0
	encodeFrom := func(e Encoder, from int) []byte {
		var b []byte
		for i := from; i < len(events); i++ {
			b = append(b, e.Presence(channel, events[i].join, &events[i].client)...)
		}
		return b
	}
	// The whole batch, which nearly every subscriber gets, is encoded once
	// per Encoder; the rare shorter one (a subscriber newer than some of
	// the batch) on its own.
	encode := func(e Encoder, from int) []byte {
		if from > 0 {
			return encodeFrom(e, from)
		}
		for i := 0; i < n; i++ {
			if encs[i] == e {
				return bytes[i]
			}
		}
		b := encodeFrom(e, 0)
		if n < len(encs) {
			encs[n], bytes[n] = e, b
			n++
		}
		return b
	}
	// Pushed outside the channel lock: a full queue disconnects its
	// session, which must not happen under a lock fan-out needs.
	for _, t := range subs {
		if b := encode(t.s.enc, t.from); len(b) > 0 {
			t.s.push(Item{Bytes: b}, false)
		}
	}
}

// Presence lists a channel's clients on behalf of the application (the
// HTTP API): no policy is asked. It fails with [stream.ErrFeatureOff] when
// the node has no Presence or the channel's namespace has presence off.
func (h *Hub) Presence(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	ns, err := h.resolve(channel)
	if err != nil {
		return nil, err
	}
	return h.clients(ctx, ns, channel)
}

// PresenceAs lists a channel's clients for a client that has no session (a
// stateless HTTP request), checking the namespace's presence rule against
// its identity.
func (h *Hub) PresenceAs(ctx context.Context, id stream.Identity, channel string) ([]stream.ClientInfo, error) {
	ns, err := h.authorizeAs(&id, stream.ActionPresence, channel)
	if err != nil {
		return nil, err
	}
	return h.clients(ctx, ns, channel)
}

// Presence lists a channel's clients for the session, checking the
// namespace's presence rule.
func (s *Session) Presence(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	ns, err := s.authorize(stream.ActionPresence, channel)
	if err != nil {
		return nil, err
	}
	ctx, done := s.bind(ctx)
	defer done()
	return s.hub.clients(ctx, ns, channel)
}

// clients lists a channel's entries once the caller may ask. Whether
// presence is on is checked here, after the policy, and nowhere else: a
// client the policy refuses learns nothing of how the namespace is
// configured. Errors of the Presence implementation name the operation and
// the channel already.
func (h *Hub) clients(ctx context.Context, ns *stream.Namespace, channel string) ([]stream.ClientInfo, error) {
	if !ns.Presence {
		return nil, fmt.Errorf("presence %q: %w: presence is off in this namespace", channel, stream.ErrFeatureOff)
	}
	if h.cfg.Presence == nil {
		return nil, fmt.Errorf("presence %q: %w: this node keeps no presence", channel, stream.ErrFeatureOff)
	}
	ctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	clients, err := h.cfg.Presence.Clients(ctx, channel)
	return clients, asUnavailable(err)
}

// TouchPresence adds or refreshes the entries of a client that has no
// session (a poll) in those of channels whose namespace has presence on,
// for ttl. The caller has already checked that the client may subscribe to
// them. Entries of such clients are never removed explicitly: they expire
// ttl after the client's last request.
func (h *Hub) TouchPresence(ctx context.Context, id stream.Identity, client string, channels []string, ttl time.Duration) error {
	if h.cfg.Presence == nil {
		return nil
	}
	info := stream.ClientInfo{Client: client, User: id.User, Info: id.Info}
	for _, ch := range channels {
		ns, err := h.cfg.Namespaces.Lookup(ch)
		if err != nil || !h.presenceOn(ns) {
			continue
		}
		if err := h.touch(ctx, ch, info, ttl); err != nil {
			return err
		}
	}
	return nil
}

// touch is one Presence.Add of TouchPresence, under the broker timeout.
func (h *Hub) touch(ctx context.Context, channel string, info stream.ClientInfo, ttl time.Duration) error {
	ctx, cancel := h.brokerCtx(ctx)
	defer cancel()
	return asUnavailable(h.cfg.Presence.Add(ctx, channel, info, ttl))
}
