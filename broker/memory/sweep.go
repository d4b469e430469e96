package memory

import (
	"log/slog"
	"time"
)

// sweep drops expired history and idempotency keys, gives back ring memory
// that shrunken histories no longer use, and forgets idle channels. Reads
// and publishes already ignore what has expired; sweeping is what bounds the
// memory of channels nobody touches any more.
//
// It works one shard at a time and holds a shard's write lock only to delete
// the channels it found idle, so publishers are held up for no longer than a
// map delete.
func (b *Broker) sweep() {
	start := time.Now()
	now := b.now().UnixNano()
	var (
		snap                         []*channel
		channels, forgot, pubs, keys int
	)
	for i := range b.shards {
		s := &b.shards[i]
		snap = s.snapshot(snap[:0])
		channels += len(snap)
		idle := snap[:0] // filtered in place: writes never pass reads
		for _, c := range snap {
			c.mu.Lock()
			if !c.dead {
				n := c.hist.n
				c.expire(now)
				pubs += n - c.hist.n
				keys += b.expireKeys(c, now)
				c.hist.compact()
				if c.idle(now, b.idleTTL) {
					idle = append(idle, c)
				}
			}
			c.mu.Unlock()
		}
		for _, c := range idle {
			if s.forget(c, now, b.idleTTL) {
				forgot++
			}
		}
		clear(snap) // the scratch slice must not keep forgotten channels alive
	}
	b.log.Debug("memory broker swept",
		slog.Int("channels", channels-forgot),
		slog.Int("forgotten_channels", forgot),
		slog.Int("expired_publications", pubs),
		slog.Int("expired_keys", keys),
		slog.Duration("took", time.Since(start)))
}

// forget removes c from the shard if it is still idle. A channel whose lock
// is taken is in use and so not idle: TryLock keeps the shard's write lock
// from waiting on a slow deliver.
func (s *shard) forget(c *channel, now int64, idleTTL time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[c.name] != c || !c.mu.TryLock() {
		return false
	}
	defer c.mu.Unlock()
	if !c.idle(now, idleTTL) {
		return false
	}
	delete(s.m, c.name)
	c.dead = true
	return true
}

// expire drops publications older than the channel's history TTL. It only
// ever drops from the front, so history stays one contiguous run of offsets
// ending at top, even if the clock stepped back between two publications.
func (c *channel) expire(now int64) {
	if c.ttl <= 0 {
		return
	}
	cutoff := now - int64(c.ttl)
	for c.hist.n > 0 && c.hist.oldest().Time*int64(time.Millisecond) <= cutoff {
		c.hist.dropOldest()
	}
}

// idle reports whether forgetting the channel would lose nothing anyone can
// observe except its epoch, which is what a new epoch announces.
func (c *channel) idle(now int64, idleTTL time.Duration) bool {
	return c.hist.n == 0 && len(c.keys) == 0 && !c.subscribed &&
		now-c.lastUsed >= int64(idleTTL)
}
