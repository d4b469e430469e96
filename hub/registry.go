package hub

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/switchboardhq/switchboard/stream"
)

// registry knows every session of the node, by user too, for the HTTP
// API's disconnect and for shutdown.
type registry struct {
	mu       sync.Mutex
	all      map[*Session]struct{}
	users    map[string]map[*Session]struct{}
	closing  bool
	drained  chan struct{} // closed when closing and all is empty
	sequence uint32
}

func (r *registry) init() {
	r.all = make(map[*Session]struct{})
	r.users = make(map[string]map[*Session]struct{})
	r.drained = make(chan struct{})
}

func (h *Hub) register(s *Session) error {
	r := &h.reg
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return stream.ErrShutdown
	}
	if len(r.all) >= h.cfg.MaxConnections {
		r.mu.Unlock()
		return stream.ErrConnectionLimit
	}
	r.all[s] = struct{}{}
	if u := s.identity.User; u != "" {
		m := r.users[u]
		if m == nil {
			m = make(map[*Session]struct{}, 1)
			r.users[u] = m
		}
		m[s] = struct{}{}
	}
	r.sequence++
	s.bucket = r.sequence % numBuckets
	r.mu.Unlock()
	h.hb.add(s)
	h.trackExpiry(s, s.identity.ExpiresAt)
	h.stats.opened(s.transport)
	return nil
}

func (h *Hub) unregister(s *Session, cause error) {
	h.hb.remove(s)
	h.trackExpiry(s, zeroTime)
	r := &h.reg
	r.mu.Lock()
	if _, ok := r.all[s]; !ok {
		r.mu.Unlock()
		return
	}
	delete(r.all, s)
	if u := s.identity.User; u != "" {
		if m := r.users[u]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(r.users, u)
			}
		}
	}
	if r.closing && len(r.all) == 0 {
		close(r.drained)
	}
	r.mu.Unlock()
	h.stats.closed(s.transport, cause)
}

func (r *registry) byUser(user string) []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.users[user]))
	for s := range r.users[user] {
		out = append(out, s)
	}
	return out
}

// shutdown marks the registry closing and returns its sessions shuffled.
func (r *registry) shutdown() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closing {
		r.closing = true
		if len(r.all) == 0 {
			close(r.drained)
		}
	}
	out := make([]*Session, 0, len(r.all))
	for s := range r.all {
		out = append(out, s)
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (r *registry) wait(ctx context.Context) error {
	select {
	case <-r.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sessions counts the node's sessions.
func (h *Hub) Sessions() int {
	h.reg.mu.Lock()
	defer h.reg.mu.Unlock()
	return len(h.reg.all)
}
