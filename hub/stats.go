package hub

import (
	"sync"
	"sync/atomic"

	"github.com/switchboardhq/switchboard/stream"
)

// counters are the node's statistics, kept with atomics so the hot path
// takes no lock for them.
type counters struct {
	subscriptions atomic.Int64
	publications  atomic.Uint64
	deliveries    atomic.Uint64
	queueDrops    atomic.Uint64
	replayed      atomic.Uint64

	mu          sync.Mutex
	byTransport map[stream.Transport]int64
	disconnects map[DisconnectKey]uint64
}

// DisconnectKey groups ended sessions by transport and cause.
type DisconnectKey struct {
	Transport stream.Transport
	Cause     error
}

// Stats is a snapshot of the node's counters.
type Stats struct {
	// Sessions counts open sessions by transport.
	Sessions map[stream.Transport]int64
	// Subscriptions counts session-channel subscriptions.
	Subscriptions int64
	// Channels counts channels with subscribers on this node.
	Channels int
	// Publications counts publications accepted through this node.
	Publications uint64
	// Deliveries counts publications queued to local subscribers.
	Deliveries uint64
	// QueueDrops counts sessions dropped because their queue was full.
	QueueDrops uint64
	// Replayed counts publications replayed from history on subscribe.
	Replayed uint64
	// Disconnects counts ended sessions by transport and cause.
	Disconnects map[DisconnectKey]uint64
}

func (c *counters) opened(transport stream.Transport) {
	c.mu.Lock()
	if c.byTransport == nil {
		c.byTransport = make(map[stream.Transport]int64)
	}
	c.byTransport[transport]++
	c.mu.Unlock()
}

func (c *counters) closed(transport stream.Transport, cause error) {
	c.mu.Lock()
	c.byTransport[transport]--
	if c.disconnects == nil {
		c.disconnects = make(map[DisconnectKey]uint64)
	}
	c.disconnects[DisconnectKey{transport, cause}]++
	c.mu.Unlock()
}

// Stats returns a snapshot of the node's counters.
func (h *Hub) Stats() Stats {
	c := &h.stats
	st := Stats{
		Subscriptions: c.subscriptions.Load(),
		Publications:  c.publications.Load(),
		Deliveries:    c.deliveries.Load(),
		QueueDrops:    c.queueDrops.Load(),
		Replayed:      c.replayed.Load(),
		Sessions:      make(map[stream.Transport]int64),
		Disconnects:   make(map[DisconnectKey]uint64),
	}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		st.Channels += len(sh.channels)
		sh.mu.RUnlock()
	}
	c.mu.Lock()
	for k, v := range c.byTransport {
		st.Sessions[k] = v
	}
	for k, v := range c.disconnects {
		st.Disconnects[k] = v
	}
	c.mu.Unlock()
	return st
}
