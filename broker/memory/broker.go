package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Defaults for Config fields left zero.
const (
	DefaultIdleTTL        = 24 * time.Hour
	DefaultSweepInterval  = time.Minute
	DefaultKeysPerChannel = 10_000
	DefaultKeyBytes       = 64 << 20
)

// Config configures a Broker. Its zero value works: every field documents its
// default.
type Config struct {
	// Logger receives the sweeper's reports, at debug level.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now tells the time: publication times, history and key expiry, idleness.
	// Tests set it to move time by hand. Default: time.Now.
	Now func() time.Time
	// IdleTTL is how long a channel with no history left, no live
	// idempotency key and no subscription on this node is remembered after
	// its last publish, history read, Subscribe or Unsubscribe. After that
	// its state is freed, and its next use starts a new epoch at offset 0.
	// Zero or negative: DefaultIdleTTL (24h).
	IdleTTL time.Duration
	// SweepInterval is how often Run drops expired history and idempotency
	// keys and forgets idle channels. Zero or negative: DefaultSweepInterval
	// (1 minute).
	SweepInterval time.Duration
	// KeysPerChannel bounds the idempotency keys one channel remembers at
	// once. Zero or negative: DefaultKeysPerChannel (10,000).
	KeysPerChannel int
	// KeyBytes bounds the memory all idempotency keys of the node hold,
	// counted as each key's length plus KeyOverhead. Zero or negative:
	// DefaultKeyBytes (64 MiB).
	KeyBytes int64
}

// KeyOverhead is what the broker counts for one remembered idempotency key
// besides the key's own bytes: its map slot, offset and expiry.
const KeyOverhead = 64

// Broker is the in-memory broker. Create it with New; it stores publications
// and answers History at once, and delivers publications while Run runs.
// All methods are safe for concurrent use.
//
// The deliver func given to Run is called with the channel's lock held, so it
// must not call back into the Broker, and a slow deliver holds up publishers
// of that channel (and only that channel).
type Broker struct {
	now       func() time.Time
	log       *slog.Logger
	idleTTL   time.Duration
	sweepEach time.Duration

	// The key store's bounds, and what it holds against them: every key
	// remembered, expired ones not yet swept included.
	keysPerChannel int
	maxKeyBytes    int64
	keyCount       atomic.Int64
	keyBytes       atomic.Int64

	seed    maphash.Seed
	shards  [numShards]shard
	running atomic.Bool
	// deliver is set while Run runs. Publish loads it under the channel
	// lock, which is what lets Run wait out in-flight deliveries on exit.
	deliver atomic.Pointer[func(*stream.Publication)]

	// active is closed while Run delivers and replaced when it returns, so
	// Subscribe can wait for delivery to be running.
	activeMu sync.Mutex
	active   chan struct{}
}

// New returns a Broker ready for Publish and History; call Run to have
// publications delivered and expired state swept.
func New(cfg Config) *Broker {
	b := &Broker{
		now:       cfg.Now,
		log:       cfg.Logger,
		idleTTL:   cfg.IdleTTL,
		sweepEach: cfg.SweepInterval,
		seed:      maphash.MakeSeed(),
		active:    make(chan struct{}),
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.idleTTL <= 0 {
		b.idleTTL = DefaultIdleTTL
	}
	if b.sweepEach <= 0 {
		b.sweepEach = DefaultSweepInterval
	}
	b.keysPerChannel = cfg.KeysPerChannel
	if b.keysPerChannel <= 0 {
		b.keysPerChannel = DefaultKeysPerChannel
	}
	b.maxKeyBytes = cfg.KeyBytes
	if b.maxKeyBytes <= 0 {
		b.maxKeyBytes = DefaultKeyBytes
	}
	for i := range b.shards {
		b.shards[i].m = make(map[string]*channel)
	}
	return b
}

var errRunning = errors.New("broker is already running")

// Run delivers publications of subscribed channels by calling deliver, and
// sweeps expired state every SweepInterval, until ctx ends. It then returns
// nil: ending ctx is the normal way to stop it. Publications stored while Run
// is not running are kept in history but not delivered.
//
// Only one Run may be active at a time; a second concurrent call returns an
// error at once. Once Run has returned, deliver is not running and will not be
// called again.
func (b *Broker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	if deliver == nil {
		return errors.New("run: nil deliver func")
	}
	if !b.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run: %w", errRunning)
	}
	b.deliver.Store(&deliver)
	b.activeMu.Lock()
	close(b.active)
	b.activeMu.Unlock()
	defer func() {
		b.activeMu.Lock()
		b.active = make(chan struct{})
		b.activeMu.Unlock()
		b.deliver.Store(nil)
		// A publisher that loaded deliver before the Store above holds its
		// channel's lock until deliver returns: taking every lock once waits
		// them all out.
		b.eachChannel(func(*channel) {})
		b.running.Store(false)
	}()

	tick := time.NewTicker(b.sweepEach)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			b.sweep()
		}
	}
}

// Subscribe makes Run deliver the channel's publications. Every publication
// stored after Subscribe returns is delivered: if Run is not delivering yet,
// Subscribe waits for it or for ctx. Subscriptions are a set, not counted:
// one Unsubscribe undoes any number of Subscribes.
func (b *Broker) Subscribe(ctx context.Context, ch string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("subscribe %q: %w", ch, err)
	}
	b.activeMu.Lock()
	active := b.active
	b.activeMu.Unlock()
	select {
	case <-active:
	case <-ctx.Done():
		return fmt.Errorf("subscribe %q: broker not running: %w", ch, ctx.Err())
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	c := b.lock(ch)
	c.subscribed = true
	c.lastUsed = b.now().UnixNano()
	c.mu.Unlock()
	return nil
}

// Unsubscribe stops delivery of the channel. A channel that was not
// subscribed is not an error.
func (b *Broker) Unsubscribe(ctx context.Context, ch string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("unsubscribe %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	c := b.lockExisting(ch)
	if c == nil {
		return nil
	}
	c.subscribed = false
	// Counting from here gives clients that just left a full IdleTTL to
	// come back and resume in the same epoch.
	c.lastUsed = b.now().UnixNano()
	c.mu.Unlock()
	return nil
}

// Stats counts what a Broker holds.
type Stats struct {
	Channels     int // channels with state in memory
	Subscribed   int // channels subscribed on this node
	Publications int // publications in history
	Keys         int // idempotency keys remembered, expired ones not yet swept included
	KeyBytes     int // what those keys count against Config.KeyBytes
}

// Stats walks every channel to count what the broker holds. It takes each
// channel's lock in turn, so it is meant for diagnostics and tests, not for a
// hot path.
func (b *Broker) Stats() Stats {
	var s Stats
	b.eachChannel(func(c *channel) {
		s.Channels++
		if c.subscribed {
			s.Subscribed++
		}
		s.Publications += c.hist.n
	})
	keys, bytes := b.KeyStats()
	s.Keys, s.KeyBytes = int(keys), int(bytes)
	return s
}

// KeyStats returns how many idempotency keys the broker remembers and the
// bytes they count against Config.KeyBytes, expired keys not yet swept
// included. Unlike Stats it reads two counters and walks nothing, so a
// metrics scrape may call it.
func (b *Broker) KeyStats() (keys, bytes int64) {
	return b.keyCount.Load(), b.keyBytes.Load()
}
