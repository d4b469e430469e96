package memory

import (
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// The idempotency key store is bounded twice: KeysPerChannel keys per
// channel, and KeyBytes for the whole node. At either bound a publish with a
// new key is refused (stream.ErrTooManyRequests) rather than a live key
// evicted: an evicted key would let a retried publication be stored twice
// inside the window the key promised. So the promise is exact: a key is
// remembered for its whole window, or the publish that would have created it
// is refused and nothing is stored. A retry of a key still remembered
// answers Duplicate whatever the bounds.

// keyCost is what one remembered key counts against KeyBytes.
func keyCost(key string) int64 { return int64(len(key)) + KeyOverhead }

// admitKey makes room for a new key on c, whose lock is held, and counts
// it: the caller then stores it with rememberKey. A key of c that has
// expired is dropped first, so a channel at its bound takes new keys as soon
// as old ones expire, without waiting for the sweeper.
func (b *Broker) admitKey(c *channel, key string, now int64) error {
	if _, ok := c.keys[key]; ok { // expired: the caller checked
		b.dropKey(c, key)
	}
	if len(c.keys) >= b.keysPerChannel {
		b.expireKeys(c, now)
		if len(c.keys) >= b.keysPerChannel {
			return fmt.Errorf("publish %q: %w: the channel remembers %d idempotency keys, at most %d (limits.keys_per_channel); retry when the oldest expires",
				c.name, stream.ErrTooManyRequests, len(c.keys), b.keysPerChannel)
		}
	}
	cost := keyCost(key)
	if b.keyBytes.Add(cost) > b.maxKeyBytes {
		b.keyBytes.Add(-cost)
		b.expireKeys(c, now)
		if b.keyBytes.Add(cost) > b.maxKeyBytes {
			b.keyBytes.Add(-cost)
			return fmt.Errorf("publish %q: %w: the node's idempotency keys hold %d bytes, at most %d (limits.key_bytes); retry when older keys expire",
				c.name, stream.ErrTooManyRequests, b.keyBytes.Load(), b.maxKeyBytes)
		}
	}
	b.keyCount.Add(1)
	return nil
}

// rememberKey stores a key admitKey counted.
func (b *Broker) rememberKey(c *channel, key string, e keyEntry) {
	if c.keys == nil {
		c.keys = make(map[string]keyEntry, 1)
	}
	c.keys[key] = e
	if c.keysDue == 0 || e.expires < c.keysDue {
		c.keysDue = e.expires
	}
}

func (b *Broker) dropKey(c *channel, key string) {
	delete(c.keys, key)
	b.keyCount.Add(-1)
	b.keyBytes.Add(-keyCost(key))
}

// expireKeys forgets c's idempotency keys whose window has passed. It walks
// the keys only when the earliest expiry is due, so a channel at its bound
// whose keys are all live costs a comparison per refused publish, not a
// walk.
func (b *Broker) expireKeys(c *channel, now int64) (freed int) {
	if len(c.keys) == 0 || now < c.keysDue {
		return 0
	}
	var due int64
	for k, e := range c.keys {
		switch {
		case now >= e.expires:
			b.dropKey(c, k)
			freed++
		case due == 0 || e.expires < due:
			due = e.expires
		}
	}
	c.keysDue = due
	if len(c.keys) == 0 {
		// A map never shrinks; dropping it returns its buckets.
		c.keys = nil
	}
	return freed
}
