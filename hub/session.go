package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Item is one thing queued to a session: wire bytes, and the publication they
// carry when they carry one (so HTTP transports can keep cursors). Bytes of a
// publication are shared by every subscriber and must not be modified.
type Item struct {
	Pub *stream.Publication
	// Gap is set on the push that announces a channel's new epoch (see
	// [Encoder.Gap]), so that HTTP transports can move their cursors.
	Gap   *Gap
	Bytes []byte
}

// SessionOptions describe a new session.
type SessionOptions struct {
	// Identity is who the client is, from its token; zero for anonymous.
	Identity stream.Identity
	// Transport names the transport, for statistics ([Stats.Sessions],
	// [DisconnectKey]).
	Transport stream.Transport
	// Encoder turns publications and pushes into the transport's bytes.
	// Encoders are compared with ==, so use a pointer or a comparable value.
	Encoder Encoder
	// RequirePong drops the session when it has not called Pong between two
	// pings.
	RequirePong bool
	// Wake, when set, replaces the Ready channel: it is called when the
	// queue becomes non-empty and when the session is disconnected. A
	// transport that starts its writer on demand uses it so an idle
	// connection has no writer goroutine at all.
	//
	// Fan-out calls Wake while it holds the channel's lock, so that one
	// publication reaches every subscriber without a second pass: Wake must
	// return at once, never block, and never call back into the hub or the
	// session (start or signal the writer, and let the writer call Take).
	Wake func()
	// Client, when set, is the session's client id instead of a new random
	// one: a polling client keeps its identity across requests that way.
	Client string
	// NoPresence keeps the session out of presence: its transport keeps the
	// client's entries itself (a poll lives for one request, its client for
	// many; see Hub.TouchPresence).
	NoPresence bool
	// Direct, when set, lets fan-out write live publications to the
	// connection itself while the connection has nothing queued and no
	// writer running, instead of queueing them and waking the writer (see
	// [Direct]). It needs Wake: the connection's writer takes over whenever
	// a direct write cannot finish at once.
	Direct Direct
}

// Direct is a connection that fan-out may write to without waking its
// writer: one non-blocking write of the publication's shared bytes, made by
// the channel's pass (see Hub.pass), never under a hub lock. At low rates
// that saves a writer wake-up per delivery; at high rates the publications
// that arrive while a pass is under way queue behind the claim and go out
// with it in one write, so batching follows the load with no timer. The
// heartbeat gives an idle connection its ping the same way (with no lock
// held; the item has neither Pub nor Gap).
type Direct interface {
	// Claim reserves the connection's writes for one WriteNow. Fan-out
	// calls it under the channel's lock, so it must return at once and
	// never call into the hub but for [Session.Queued] and [Session.Done].
	// It reports true only when nothing is queued, no writer runs and the
	// session goes on; until WriteNow returns, publications for the
	// session are queued without waking its writer.
	Claim() bool
	// WriteNow writes the publication's item (its Bytes are shared and
	// must not be modified; Pub is there for a transport that adds to
	// them, as SSE adds the connection's cursor) and whatever was queued
	// meanwhile, without blocking, then gives the writes back, waking the
	// writer for whatever the socket did not take. It is called exactly
	// once after each Claim that reported true, with no hub lock held.
	WriteNow(it Item)
}

// Session is one connected client. Its methods are safe for concurrent use;
// the transport's writer is the only caller of Take.
type Session struct {
	hub       *Hub
	id        string
	transport stream.Transport
	enc       Encoder
	pong      bool
	bucket    uint32
	noPres    bool

	mu       sync.Mutex
	identity stream.Identity
	info     stream.ClientInfo
	subs     map[string]*subscription
	queue    []Item
	queued   int // bytes queued and not yet taken, checked against QueueLimit
	// buffered counts the bytes of live publications held by subscriptions
	// still replaying; they count against QueueLimit with queued.
	buffered int
	// drained, when a replay waits for the writer, is closed by the next
	// Take (see waitDrain).
	drained chan struct{}
	ending  bool
	closed  bool
	cause   error
	tokens  float64
	lastCmd int64

	awaitingPong atomic.Bool
	// nonEmpty is len(queue) > 0, stored under mu wherever queue changes,
	// so that Queued, which a connection's writes ask before and after each
	// direct write, takes no lock.
	nonEmpty atomic.Bool

	ready  chan struct{} // nil when wake is set
	wake   func()
	direct Direct
	done   chan struct{}

	// replays are the goroutines that queue the rest of long replays (see
	// Hub.join); replayCtx ends when the session does, and Close waits for
	// them.
	replays   sync.WaitGroup
	replayCtx context.Context
	endReplay context.CancelFunc
}

// NewSession registers a new session. It fails with stream.ErrConnectionLimit
// when the node is full and stream.ErrShutdown once Shutdown has begun.
func (h *Hub) NewSession(opts SessionOptions) (*Session, error) {
	if opts.Encoder == nil {
		panic("hub: SessionOptions.Encoder is required")
	}
	if err := h.checkIdentity(&opts.Identity); err != nil {
		return nil, err
	}
	id := opts.Client
	if id == "" {
		var raw [8]byte
		_, _ = rand.Read(raw[:])
		id = hex.EncodeToString(raw[:])
	}
	s := &Session{
		hub:       h,
		id:        id,
		transport: opts.Transport,
		enc:       opts.Encoder,
		pong:      opts.RequirePong,
		noPres:    opts.NoPresence,
		identity:  opts.Identity,
		tokens:    float64(h.cfg.CommandBurst),
		lastCmd:   time.Now().UnixNano(),
		wake:      opts.Wake,
		direct:    opts.Direct,
		done:      make(chan struct{}),
	}
	if s.direct != nil && s.wake == nil {
		panic("hub: SessionOptions.Direct needs Wake")
	}
	if s.wake == nil {
		s.ready = make(chan struct{}, 1)
	}
	s.replayCtx, s.endReplay = context.WithCancel(context.Background())
	s.info = stream.ClientInfo{Client: s.id, User: opts.Identity.User, Info: opts.Identity.Info}
	if err := h.register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ID is the session's client id.
func (s *Session) ID() string { return s.id }

// Transport is the transport given at creation.
func (s *Session) Transport() stream.Transport { return s.transport }

// Identity returns who the session is.
func (s *Session) Identity() stream.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identity
}

// Ready receives a value when the queue becomes non-empty. The writer then
// calls Take; a wake-up may find the queue already drained. Sessions created
// with a Wake func have no Ready channel (nil: it never receives).
func (s *Session) Ready() <-chan struct{} { return s.ready }

// Done is closed when the session must end: the hub disconnected it (see
// Cause) or the transport closed it.
func (s *Session) Done() <-chan struct{} { return s.done }

// Cause says why Done was closed: a stream sentinel such as
// stream.ErrSlowConsumer, stream.ErrShutdown or stream.ErrClosed.
func (s *Session) Cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

// Take moves everything queued into the returned slice, handing dst's
// storage to the queue for reuse, so a writer that alternates two buffers
// allocates nothing in steady state. Call it from the writer only (which,
// between [Direct.Claim] and the end of [Direct.WriteNow], is WriteNow).
func (s *Session) Take(dst []Item) []Item {
	clear(dst)
	s.mu.Lock()
	out := s.queue
	s.queue = dst[:0]
	s.nonEmpty.Store(false)
	s.queued = 0
	if s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	return out
}

// Send queues a reply or push: command replies, pongs, close and error
// frames. Like every push it counts against [Config.QueueLimit], so a
// client that sends commands (or pings) and never reads is ended with
// stream.ErrSlowConsumer instead of making the node hold its replies. It
// reports false when the session is ending or was ended by this push.
func (s *Session) Send(b []byte) bool { return s.push(Item{Bytes: b}, false) }

// push queues an item. Every item counts against the queue limit; one that
// would take the session over it ends the session as slow, unless it is
// the first thing queued (a single item larger than the whole limit, such
// as one subscribe reply, still goes out to a client that reads). replay
// items never end the session: the replay waits for the writer before
// queueing them (see waitDrain), which bounds them instead.
func (s *Session) push(it Item, replay bool) bool {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return false
	}
	n := len(it.Bytes)
	if !replay && len(s.queue) > 0 && s.queued+s.buffered+n > s.hub.cfg.QueueLimit {
		s.mu.Unlock()
		s.slow()
		return false
	}
	wake := len(s.queue) == 0
	s.queue = append(s.queue, it)
	s.queued += n
	s.nonEmpty.Store(true)
	s.mu.Unlock()
	if wake {
		s.notify()
	}
	return true
}

// slow ends the session as a slow consumer.
func (s *Session) slow() {
	s.hub.stats.queueDrops.Add(1)
	s.Disconnect(stream.ErrSlowConsumer)
}

// hold counts n bytes of a live publication that a replaying subscription
// buffers. It reports false, counting nothing, when the session is ending
// or they would take it over the limit: the subscription then drops its
// buffer and its replay reads them from history (see subscription.hold).
// The caller holds the subscription's channel lock.
func (s *Session) hold(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending || s.queued+s.buffered+n > s.hub.cfg.QueueLimit {
		return false
	}
	s.buffered += n
	return true
}

// release uncounts n buffered bytes: they were queued or dropped.
func (s *Session) release(n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.buffered -= n
	s.mu.Unlock()
}

// room reports whether a replay may queue more: the queue is under half the
// limit, leaving the other half to live publications and replies.
func (s *Session) room(int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued < s.hub.cfg.QueueLimit/2
}

// fits reports whether n more bytes keep the queue within its limit, or
// would be the first thing queued.
func (s *Session) fits(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0 || s.queued+s.buffered+n <= s.hub.cfg.QueueLimit
}

// waitDrain waits until the queue is under half the limit (see room), the
// session ends, ctx ends, or stall passes. It reports whether the replay may
// go on; a writer that takes nothing for stall ends the session as slow.
func (s *Session) waitDrain(ctx context.Context, stall time.Duration) bool {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if s.ending {
			s.mu.Unlock()
			return false
		}
		if s.queued < s.hub.cfg.QueueLimit/2 {
			s.mu.Unlock()
			return true
		}
		if s.drained == nil {
			s.drained = make(chan struct{})
		}
		drained := s.drained
		s.mu.Unlock()
		if t == nil {
			t = time.NewTimer(stall)
		}
		select {
		case <-drained:
		case <-s.done:
			return false
		case <-ctx.Done():
			return false
		case <-t.C:
			s.slow()
			return false
		}
	}
}

func (s *Session) notify() {
	if s.wake != nil {
		s.wake()
		return
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Queued reports whether anything is waiting in the queue. It takes no
// lock: a push stores it before it wakes the writer, so a writer that
// asks under its own lock, which the wake-up takes too, never misses one.
func (s *Session) Queued() bool { return s.nonEmpty.Load() }

// Disconnect ends the session with a cause: Done is closed and nothing more
// is queued. The transport writes what is left if it likes, tells the client
// why, and calls Close.
func (s *Session) Disconnect(cause error) {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return
	}
	s.ending = true
	s.cause = cause
	s.mu.Unlock()
	s.endReplay()
	close(s.done)
	if s.wake != nil {
		s.wake()
	}
}

// Close releases the session: its subscriptions end and the node forgets it.
// Transports call it exactly when the connection is gone; it is idempotent.
func (s *Session) Close() {
	s.Disconnect(stream.ErrClosed)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	s.subs = nil
	cause := s.cause
	s.queue = nil
	s.nonEmpty.Store(false)
	s.mu.Unlock()
	// Replays stop at their next step now that the session ended; wait for
	// them so none queues into a closed session or outlives it.
	s.replays.Wait()
	names := make([]string, len(subs))
	for i, sub := range subs {
		s.hub.detach(sub)
		names[i] = sub.name
	}
	s.hub.presenceLeave(s, names...)
	s.hub.unregister(s, cause)
}

// Pong records the client's answer to the last ping.
func (s *Session) Pong() { s.awaitingPong.Store(false) }

// Allow takes one command from the session's rate budget, reporting false
// when the client sends faster than CommandRate allows.
func (s *Session) Allow() bool {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := &s.hub.cfg
	s.tokens += float64(now-s.lastCmd) / 1e9 * cfg.CommandRate
	s.lastCmd = now
	if max := float64(cfg.CommandBurst); s.tokens > max {
		s.tokens = max
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// Refresh replaces the session's identity with one from a new token for the
// same user, extending its expiry. Subscriptions the new identity may not
// make any more are ended (see leaveRefused).
func (s *Session) Refresh(id stream.Identity) error {
	s.mu.Lock()
	if s.identity.User != id.User {
		s.mu.Unlock()
		return stream.ErrInvalidToken
	}
	if err := s.hub.checkIdentity(&id); err != nil {
		s.mu.Unlock()
		return err
	}
	s.identity = id
	s.mu.Unlock()
	s.hub.trackExpiry(s, id.ExpiresAt)
	s.leaveRefused()
	return nil
}

// leaveRefused ends the subscriptions the session's identity no longer
// allows (a refreshed token that grants fewer channels than the one they
// were made with), each with an unsubscribed push carrying the refusal,
// queued after whatever the channel delivered before it. The others go on.
func (s *Session) leaveRefused() {
	for _, ch := range s.Channels() {
		_, refused := s.authorize(stream.ActionSubscribe, ch)
		if refused == nil || s.Unsubscribe(ch) != nil {
			continue // allowed, or left meanwhile
		}
		if b := s.enc.Unsubscribed(ch, refused); b != nil {
			s.push(Item{Bytes: b}, false)
		}
	}
}

// authorize resolves a channel and asks the policy whether the session may
// take the action on it.
func (s *Session) authorize(action stream.Action, channel string) (*stream.Namespace, error) {
	id := s.Identity()
	return s.hub.authorize(&id, action, channel)
}

// Publish publishes from the client, checking the namespace's publish rule.
func (s *Session) Publish(ctx context.Context, channel string, data []byte, key string) (stream.PublishResult, error) {
	ns, err := s.authorize(stream.ActionPublish, channel)
	if err != nil {
		return stream.PublishResult{}, err
	}
	info := s.info
	ctx, done := s.bind(ctx)
	defer done()
	return s.hub.publish(ctx, ns, stream.PublishRequest{Channel: channel, Data: data, Key: key, Info: &info})
}

// History reads a channel's history, checking the namespace's history rule.
// Its answer is bounded as [Hub.HistoryAs] says.
func (s *Session) History(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if _, err := s.authorize(stream.ActionHistory, channel); err != nil {
		return stream.HistoryPage{}, err
	}
	ctx, done := s.bind(ctx)
	defer done()
	return s.hub.history(ctx, channel, q)
}

// Channels lists the session's subscriptions.
func (s *Session) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.subs))
	for ch := range s.subs {
		out = append(out, ch)
	}
	return out
}
