package memory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// DefaultPresenceSweep is how often a Presence looks for expired entries
// when PresenceConfig.SweepInterval is zero.
const DefaultPresenceSweep = time.Second

// maxPendingEvents bounds the join and leave events waiting for Run. Past
// it, events are dropped (presence lists stay right; only pushes are lost),
// so a stalled deliver cannot grow memory without limit.
const maxPendingEvents = 1 << 16

// PresenceConfig configures a Presence. Its zero value works.
type PresenceConfig struct {
	// Now tells the time, for expiry. Tests set it to move time by hand.
	// Default: time.Now.
	Now func() time.Time
	// SweepInterval is how often Run drops expired entries and announces
	// their leave. Zero or negative: DefaultPresenceSweep (1s).
	SweepInterval time.Duration
}

// Presence is the in-memory presence of one node: it satisfies
// hub.Presence for a node running on the memory broker. Entries live in the
// process's memory; join and leave events go to this node's Run only. All
// methods are safe for concurrent use.
type Presence struct {
	now   func() time.Time
	sweep time.Duration

	mu       sync.Mutex
	channels map[string]map[string]*presenceEntry
	pending  []presenceEvent
	signal   chan struct{}
	running  atomic.Bool
}

type presenceEntry struct {
	info    stream.ClientInfo
	expires time.Time
}

type presenceEvent struct {
	channel string
	join    bool
	info    stream.ClientInfo
}

// NewPresence returns an empty Presence; call Run to have events delivered
// and expired entries swept.
func NewPresence(cfg PresenceConfig) *Presence {
	p := &Presence{
		now:      cfg.Now,
		sweep:    cfg.SweepInterval,
		channels: make(map[string]map[string]*presenceEntry),
		signal:   make(chan struct{}, 1),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sweep <= 0 {
		p.sweep = DefaultPresenceSweep
	}
	return p
}

// Run delivers join and leave events, in the order they happened, and
// sweeps expired entries, until ctx ends. Only one Run may be active. Events
// are kept for the next Run while none is active (at most maxPendingEvents),
// and dropped when one ends.
func (p *Presence) Run(ctx context.Context, deliver func(channel string, join bool, client stream.ClientInfo)) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("memory presence: already running")
	}
	defer p.running.Store(false)
	t := time.NewTicker(p.sweep)
	defer t.Stop()
	var batch []presenceEvent
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.pending = nil
			p.mu.Unlock()
			return nil
		case <-t.C:
			p.expire()
		case <-p.signal:
		}
		p.mu.Lock()
		batch, p.pending = p.pending, batch[:0]
		p.mu.Unlock()
		for _, ev := range batch {
			deliver(ev.channel, ev.join, ev.info)
		}
		clear(batch)
	}
}

// announce queues an event for Run; p.mu is held. Events queued before
// Run starts are delivered when it does.
func (p *Presence) announce(channel string, join bool, info stream.ClientInfo) {
	if len(p.pending) >= maxPendingEvents {
		return
	}
	p.pending = append(p.pending, presenceEvent{channel, join, info})
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// Add adds or refreshes an entry for ttl; a new entry is announced.
func (p *Presence) Add(_ context.Context, channel string, client stream.ClientInfo, ttl time.Duration) error {
	exp := p.now().Add(ttl)
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.channels[channel]
	if m == nil {
		m = make(map[string]*presenceEntry)
		p.channels[channel] = m
	}
	if e := m[client.Client]; e != nil {
		e.info, e.expires = client, exp
		return nil
	}
	m[client.Client] = &presenceEntry{info: client, expires: exp}
	p.announce(channel, true, client)
	return nil
}

// Remove removes an entry; one that was there is announced.
func (p *Presence) Remove(_ context.Context, channel, client string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.channels[channel]
	e := m[client]
	if e == nil {
		return nil
	}
	delete(m, client)
	if len(m) == 0 {
		delete(p.channels, channel)
	}
	p.announce(channel, false, e.info)
	return nil
}

// Clients lists a channel's unexpired entries.
func (p *Presence) Clients(_ context.Context, channel string) ([]stream.ClientInfo, error) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.channels[channel]
	out := make([]stream.ClientInfo, 0, len(m))
	for _, e := range m {
		if now.Before(e.expires) {
			out = append(out, e.info)
		}
	}
	return out, nil
}

// expire drops expired entries and announces their leave.
func (p *Presence) expire() {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch, m := range p.channels {
		for id, e := range m {
			if !now.Before(e.expires) {
				delete(m, id)
				p.announce(ch, false, e.info)
			}
		}
		if len(m) == 0 {
			delete(p.channels, ch)
		}
	}
}
