package relay

import (
	"sync"

	"github.com/switchboardhq/switchboard/stream"
)

// Sub is one channel a node is subscribed to, with the position of the last
// publication delivered for it — at first, the channel's position read just
// before the broker subscribed. Once the Sub is in a [Set], only the relay
// moves its position. After an interruption the relay reads history after
// that position, which is how nothing published meanwhile is lost.
type Sub struct {
	name string
	pos  stream.Position
	// time is when the publication at pos was stored, Unix ms; 0 until
	// the relay delivers one.
	time int64
	// suspect: a repair began and has not yet seen the channel's history
	// reach pos, so history may have gone backwards under it (see
	// [Config.Regressed]). Only the relay's goroutine touches it.
	suspect bool
}

// NewSub returns the subscription of channel name, starting after pos. The
// relay keeps name: it must not share memory with a larger buffer.
func NewSub(name string, pos stream.Position) *Sub {
	return &Sub{name: name, pos: pos}
}

// Name is the subscription's channel.
func (s *Sub) Name() string { return s.name }

// Set is a node's subscriptions, one per channel. Its zero value is empty
// and ready to use; all methods are safe for concurrent use.
//
// The relay holds the read lock while it delivers a publication, so once
// [Set.Remove] or [Set.Delete] has returned no delivery of that channel is
// running, and none will start: that is what lets a broker's Unsubscribe
// promise it.
type Set struct {
	mu   sync.RWMutex
	subs map[string]*Sub
}

// Get returns the subscription of channel ch, or nil.
func (set *Set) Get(ch string) *Sub {
	set.mu.RLock()
	defer set.mu.RUnlock()
	return set.subs[ch]
}

// Add makes s the subscription of its channel.
func (set *Set) Add(s *Sub) {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.subs == nil {
		set.subs = make(map[string]*Sub)
	}
	set.subs[s.name] = s
}

// Remove removes s unless its channel was subscribed again meanwhile, and
// reports whether it did.
func (set *Set) Remove(s *Sub) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.subs[s.name] != s {
		return false
	}
	delete(set.subs, s.name)
	return true
}

// Delete removes the subscription of channel ch, and reports whether there
// was one.
func (set *Set) Delete(ch string) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	_, ok := set.subs[ch]
	delete(set.subs, ch)
	return ok
}

// All returns every subscription, in no particular order.
func (set *Set) All() []*Sub {
	set.mu.RLock()
	defer set.mu.RUnlock()
	out := make([]*Sub, 0, len(set.subs))
	for _, s := range set.subs {
		out = append(out, s)
	}
	return out
}

// send calls deliver with p if s is still subscribed, and moves s's
// position.
func (set *Set) send(s *Sub, p *stream.Publication, deliver func(*stream.Publication)) {
	set.mu.RLock()
	defer set.mu.RUnlock()
	if set.subs[s.name] == s {
		deliver(p)
		s.pos, s.time = p.Position(), p.Time
	}
}
