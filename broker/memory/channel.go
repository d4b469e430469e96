package memory

import (
	"crypto/rand"
	"encoding/base64"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// numShards splits the channel map so that creating channels, which takes a
// shard's write lock, rarely stalls lookups of unrelated channels. A power of
// two, so a hash picks a shard with a mask.
const numShards = 256

// shard is one slice of the channel map. Lock order: a shard's lock before a
// channel's, never the other way round.
type shard struct {
	mu sync.RWMutex
	m  map[string]*channel
	// Pads the 24-byte lock and the map pointer to a 64-byte cache line, so
	// neighbouring shards' locks do not contend through false sharing.
	_ [64 - 32]byte
}

// channel is everything the broker knows about one channel. Every field is
// guarded by mu. It is kept small on purpose: a node may hold millions.
type channel struct {
	mu sync.Mutex
	// name is the map key too, and every publication's Channel shares it.
	name  string
	epoch string
	// top is the offset of the newest publication; the next gets top+1.
	top uint64
	// lastUsed is when the channel was last published to, read or
	// (un)subscribed, in Unix nanoseconds.
	lastUsed int64
	// ttl is the HistoryTTL of the newest publication. It applies to the
	// whole history, as trimming a Redis stream by age would.
	ttl  time.Duration
	hist ring
	// keys maps idempotency keys to where their publication landed. It is
	// nil until the channel sees a key, and again once all have expired, so
	// channels without keys pay one word for it.
	keys map[string]keyEntry
	// keysDue is the earliest expiry among keys (Unix nanoseconds), 0 when
	// there are none: nothing expires before it.
	keysDue int64
	// subscribed: this node receives the channel's publications.
	subscribed bool
	// dead is set when the sweeper has removed the channel from its shard.
	// Whoever finds it set after locking must look the channel up again.
	dead bool
}

type keyEntry struct {
	offset  uint64
	expires int64 // Unix nanoseconds
}

func (b *Broker) shardOf(name string) *shard {
	return &b.shards[maphash.String(b.seed, name)&(numShards-1)]
}

// lock returns the live channel named name, creating it if needed, with its
// lock held. The name must be valid.
func (b *Broker) lock(name string) *channel {
	s := b.shardOf(name)
	for {
		s.mu.RLock()
		c := s.m[name]
		s.mu.RUnlock()
		if c == nil {
			s.mu.Lock()
			if c = s.m[name]; c == nil {
				// The caller's string may point into a large request
				// buffer; the broker keeps its own copy.
				c = &channel{name: strings.Clone(name), epoch: newEpoch()}
				s.m[c.name] = c
			}
			s.mu.Unlock()
		}
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock()
	}
}

// lockExisting is lock without creating: it returns nil when the broker holds
// no state for the channel.
func (b *Broker) lockExisting(name string) *channel {
	s := b.shardOf(name)
	for {
		s.mu.RLock()
		c := s.m[name]
		s.mu.RUnlock()
		if c == nil {
			return nil
		}
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock()
	}
}

// eachChannel calls f for every live channel with its lock held. It holds no
// shard lock while it waits for a channel, so a slow deliver on one channel
// never stalls lookups in that channel's shard.
func (b *Broker) eachChannel(f func(*channel)) {
	var snap []*channel
	for i := range b.shards {
		snap = b.shards[i].snapshot(snap[:0])
		for _, c := range snap {
			c.mu.Lock()
			if !c.dead {
				f(c)
			}
			c.mu.Unlock()
		}
	}
	clear(snap)
}

func (s *shard) snapshot(dst []*channel) []*channel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.m {
		dst = append(dst, c)
	}
	return dst
}

// epochBytes random bytes make an 8-character base64url epoch: short in
// every frame and cursor, and 48 bits leave a new epoch practically never
// equal to the one it replaces.
const epochBytes = 6

func newEpoch() string {
	var b [epochBytes]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	var s [epochBytes * 4 / 3]byte
	base64.RawURLEncoding.Encode(s[:], b[:])
	return string(s[:])
}

// firstOffset is the offset of the oldest publication in history, or top+1
// when history is empty.
func (c *channel) firstOffset() uint64 {
	return c.top - uint64(c.hist.n) + 1
}

func (c *channel) latest() stream.Position {
	return stream.Position{Epoch: c.epoch, Offset: c.top}
}
