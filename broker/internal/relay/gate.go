package relay

import (
	"context"
	"sync"
)

// Gate is open while a broker delivers — its Run is running (NATS), or its
// pub/sub connection is live (Redis) — and Subscribe waits at it, so that
// no subscription misses what follows it. Its zero value is shut; all
// methods are safe for concurrent use.
type Gate struct {
	mu sync.Mutex
	// ch is closed while the gate is open.
	ch   chan struct{}
	open bool
}

// Open opens the gate; it must be shut.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	close(g.ch)
	g.open = true
}

// Shut shuts the gate, if it is open.
func (g *Gate) Shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		g.ch, g.open = make(chan struct{}), false
	}
}

// Opened returns a channel that is closed once the gate is open.
func (g *Gate) Opened() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.ch
}

func (g *Gate) init() {
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
}

// Wait returns once the gate is open, or with ctx's error.
func (g *Gate) Wait(ctx context.Context) error {
	select {
	case <-g.Opened():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
