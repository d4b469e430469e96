package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Hub is one Switchboard node. Build it with New, then call Run. All methods
// are safe for concurrent use.
type Hub struct {
	cfg    Config
	shards [numShards]shard
	stats  counters

	reg  registry
	hb   heartbeat
	pres presenceSet

	node    string // names this node in control messages
	revoked revocations

	// bg are the hub's own broker calls: channels' Subscribe and
	// Unsubscribe (see attach.go). bgCtx ends with Run's context, and Run
	// waits for them.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	// passes are the channels' direct-write passes (see Hub.pass); Run
	// waits for them once the broker delivers no more.
	passes sync.WaitGroup
}

// New returns a Hub ready to Run.
func New(cfg Config) (*Hub, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: c, node: newNodeID()}
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*channel)
		h.shards[i].leaving = make(map[string]chan struct{})
	}
	h.bgCtx, h.bgCancel = context.WithCancel(context.Background())
	h.reg.init()
	h.hb.init()
	h.pres.entries = make(map[presenceKey]stream.ClientInfo)
	return h, nil
}

// Config returns the configuration in force, defaults filled in.
func (h *Hub) Config() Config { return h.cfg }

// Run runs the node — broker delivery, keep-alives, presence and control
// messages — until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The hub's own broker calls stop with Run, not after the broker's.
	context.AfterFunc(ctx, h.bgCancel)
	var wg sync.WaitGroup
	var brokerErr, presenceErr, controlErr error
	if h.cfg.Control != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			controlErr = h.cfg.Control.Run(ctx, h.deliverControl)
		}()
	}
	if h.cfg.Presence != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			presenceErr = h.runPresence(ctx)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		brokerErr = h.cfg.Broker.Run(ctx, h.deliver)
	}()
	go func() {
		defer wg.Done()
		h.runHeartbeat(ctx)
	}()
	wg.Wait()
	h.bg.Wait()
	h.passes.Wait()
	if brokerErr != nil && !errors.Is(brokerErr, context.Canceled) {
		return fmt.Errorf("broker: %w", brokerErr)
	}
	if presenceErr != nil && !errors.Is(presenceErr, context.Canceled) {
		return fmt.Errorf("presence: %w", presenceErr)
	}
	if controlErr != nil && !errors.Is(controlErr, context.Canceled) {
		return fmt.Errorf("control: %w", controlErr)
	}
	return nil
}

// resolve validates a channel name and finds its namespace: the first step
// of every operation on a channel, whoever asks.
func (h *Hub) resolve(channel string) (*stream.Namespace, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return nil, err
	}
	return h.cfg.Namespaces.Lookup(channel)
}

// authorize resolves a channel and asks the policy whether id may take the
// action on it.
func (h *Hub) authorize(id *stream.Identity, action stream.Action, channel string) (*stream.Namespace, error) {
	ns, err := h.resolve(channel)
	if err != nil {
		return nil, err
	}
	if h.cfg.Policy != nil {
		if err := h.cfg.Policy.Allow(id, action, channel, ns); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// authorizeAs is authorize for a client that holds no session: its token,
// which no session has vetted, is checked against revocations first.
func (h *Hub) authorizeAs(id *stream.Identity, action stream.Action, channel string) (*stream.Namespace, error) {
	if err := h.checkIdentity(id); err != nil {
		return nil, err
	}
	return h.authorize(id, action, channel)
}

// Publish publishes on behalf of the application (the HTTP API): no policy
// is asked. req's history settings are taken from the channel's namespace.
func (h *Hub) Publish(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error) {
	ns, err := h.resolve(req.Channel)
	if err != nil {
		return stream.PublishResult{}, err
	}
	return h.publish(ctx, ns, req)
}

// PublishAs publishes for a client that has no session (a stateless HTTP
// request), checking the namespace's publish rule against its identity.
// req.Info defaults to the identity's user and token info; an anonymous
// publication carries an empty one ({"client":""}), so that subscribers
// can tell every client's publication from the backend's, which has none.
func (h *Hub) PublishAs(ctx context.Context, id stream.Identity, req stream.PublishRequest) (stream.PublishResult, error) {
	ns, err := h.authorizeAs(&id, stream.ActionPublish, req.Channel)
	if err != nil {
		return stream.PublishResult{}, err
	}
	if req.Info == nil {
		req.Info = &stream.ClientInfo{User: id.User, Info: id.Info}
	}
	return h.publish(ctx, ns, req)
}

// publish checks and compacts the data, then hands the publication to the
// Broker. The Broker's errors name the operation and the channel already,
// so they are returned as they are.
func (h *Hub) publish(ctx context.Context, ns *stream.Namespace, req stream.PublishRequest) (stream.PublishResult, error) {
	if len(req.Data) > h.cfg.MaxMessageSize {
		return stream.PublishResult{}, fmt.Errorf("%w: %d bytes, at most %d", stream.ErrMessageTooLarge, len(req.Data), h.cfg.MaxMessageSize)
	}
	// Compacting validates too, and leaves data on one line for every wire
	// format (SSE in particular) once, instead of per subscriber.
	var buf bytes.Buffer
	buf.Grow(len(req.Data))
	if len(req.Data) == 0 || json.Compact(&buf, req.Data) != nil {
		return stream.PublishResult{}, fmt.Errorf("%w: data must be one JSON value", stream.ErrBadRequest)
	}
	req.Data = buf.Bytes()
	req.HistorySize = ns.Size()
	req.HistoryTTL = ns.TTL()
	res, err := h.brokerPublish(ctx, req)
	if err != nil {
		return res, err
	}
	h.stats.publications.Add(1)
	return res, nil
}

// History reads a channel's history on behalf of the application: at most
// q.Limit publications and at most [Config.MaxReplyBytes] of them (see
// [Hub.HistoryAs]).
func (h *Hub) History(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if _, err := h.resolve(channel); err != nil {
		return stream.HistoryPage{}, err
	}
	return h.history(ctx, channel, q)
}

// HistoryAs reads a channel's history on behalf of a client that holds no
// session (GET /connection/history), checking the namespace's history rule
// against id as [Session.History] does for a connected client.
//
// Every history read for a reply holds at most q.Limit publications and at
// most [Config.MaxReplyBytes] of them by [ReplySize], but at least one when
// any matches: a reply cut by the byte budget has fewer than q.Limit, and
// the client reads on with Since set to the last publication's position.
func (h *Hub) HistoryAs(ctx context.Context, id stream.Identity, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if _, err := h.authorizeAs(&id, stream.ActionHistory, channel); err != nil {
		return stream.HistoryPage{}, err
	}
	return h.history(ctx, channel, q)
}

// ChannelInfo describes a channel with local subscribers.
type ChannelInfo struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
}

// Channels lists the channels with subscribers on this node.
func (h *Hub) Channels() []ChannelInfo {
	var out []ChannelInfo
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for _, ch := range sh.channels {
			ch.mu.Lock()
			out = append(out, ChannelInfo{Name: ch.name, Subscribers: len(ch.subs)})
			ch.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return out
}

// DisconnectUser ends every session of a user on this node with cause and
// reports how many there were.
func (h *Hub) DisconnectUser(user string, cause error) int {
	sessions := h.reg.byUser(user)
	for _, s := range sessions {
		s.Disconnect(cause)
	}
	return len(sessions)
}

// Shutdown refuses new sessions, disconnects every session with
// stream.ErrShutdown spread evenly over drain (so clients do not all come
// back in the same instant), and waits until the transports closed them or
// ctx ends.
func (h *Hub) Shutdown(ctx context.Context, drain time.Duration) error {
	sessions := h.reg.shutdown()
	if n := len(sessions); n > 0 {
		step := drain / time.Duration(n)
		start := time.Now()
		for i, s := range sessions {
			if step > 0 {
				if wait := time.Until(start.Add(step * time.Duration(i))); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				}
			}
			s.Disconnect(stream.ErrShutdown)
		}
	}
	return h.reg.wait(ctx)
}
