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
	Pub   *stream.Publication
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
	queued   int // live bytes queued, checked against QueueLimit
	ending   bool
	closed   bool
	cause    error
	tokens   float64
	lastCmd  int64

	awaitingPong atomic.Bool

	ready chan struct{} // nil when wake is set
	wake  func()
	done  chan struct{}
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
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	s := &Session{
		hub:       h,
		id:        hex.EncodeToString(raw[:]),
		transport: opts.Transport,
		enc:       opts.Encoder,
		pong:      opts.RequirePong,
		noPres:    opts.NoPresence,
		identity:  opts.Identity,
		tokens:    float64(h.cfg.CommandBurst),
		lastCmd:   time.Now().UnixNano(),
		wake:      opts.Wake,
		done:      make(chan struct{}),
	}
	if s.wake == nil {
		s.ready = make(chan struct{}, 1)
	}
	if opts.Client != "" {
		s.id = opts.Client
	}
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
// allocates nothing in steady state. Call it from the writer only.
func (s *Session) Take(dst []Item) []Item {
	clear(dst)
	s.mu.Lock()
	out := s.queue
	s.queue = dst[:0]
	s.queued = 0
	s.mu.Unlock()
	return out
}

// Send queues a reply or push. It is not counted against the slow-client
// limit, since replies are bounded by the client's own commands. It reports
// false when the session is ending.
func (s *Session) Send(b []byte) bool { return s.push(Item{Bytes: b}, false) }

// push queues an item; live items count against the queue limit.
func (s *Session) push(it Item, live bool) bool {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return false
	}
	if live && s.queued+len(it.Bytes) > s.hub.cfg.QueueLimit {
		s.mu.Unlock()
		s.hub.stats.queueDrops.Add(1)
		s.Disconnect(stream.ErrSlowConsumer)
		return false
	}
	wake := len(s.queue) == 0
	s.queue = append(s.queue, it)
	if live {
		s.queued += len(it.Bytes)
	}
	s.mu.Unlock()
	if wake {
		s.notify()
	}
	return true
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

// Queued reports whether anything is waiting in the queue.
func (s *Session) Queued() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0
}

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
	s.mu.Unlock()
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
// same user, extending its expiry.
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
	return nil
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
	return s.hub.publish(ctx, ns, stream.PublishRequest{Channel: channel, Data: data, Key: key, Info: &info})
}

// History reads a channel's history, checking the namespace's history rule.
func (s *Session) History(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if _, err := s.authorize(stream.ActionHistory, channel); err != nil {
		return stream.HistoryPage{}, err
	}
	return s.hub.cfg.Broker.History(ctx, channel, q)
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
