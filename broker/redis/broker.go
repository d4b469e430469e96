package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/broker/internal/probe"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// Defaults for Config fields left zero.
const (
	DefaultURL     = "redis://127.0.0.1:6379/0"
	DefaultPrefix  = "switchboard"
	DefaultIdleTTL = 24 * time.Hour

	DefaultReplicaTimeout = time.Second
)

// Config configures a Broker. Its zero value works against a Redis on
// 127.0.0.1:6379; every field documents its default. Set at most one of
// URL, Addrs and Options.
type Config struct {
	// URL locates Redis, as rueidis.ParseURL reads it:
	//
	//	redis://[user:password@]host:port[/db]   one server (rediss:// for TLS)
	//	redis://host1:port?addr=host2:port&addr=host3:port
	//	                                          a Redis Cluster, from any seed nodes
	//	redis://sentinel1:26379?addr=sentinel2:26379&master_set=NAME
	//	                                          the primary that these Sentinels name
	//
	// Other query parameters: dial_timeout, write_timeout, client_name,
	// protocol=2 (force RESP2), and the broker's own min_replicas
	// (auto, none or a number) and replica_timeout (a duration), which set
	// MinReplicas and ReplicaTimeout when those are zero. Whether several
	// addresses are a cluster is found out by asking them.
	// Default: DefaultURL, when Addrs and Options are unset too.
	URL string
	// Addrs lists host:port addresses, as the addr parameters of URL do.
	Addrs []string
	// Options is the whole client configuration, for what URL cannot say:
	// TLS certificates, Sentinel credentials (Options.Sentinel), cluster
	// tuning (Options.ClusterOption), timeouts. The broker changes three
	// things in a copy: it turns client-side caching off (it makes no
	// cached reads), keeps a reader on every connection (AlwaysPipelining)
	// so that a connection Redis closed is noticed before a command fails
	// on it, and names its connections "switchboard" when ClientName is
	// empty.
	Options *rueidis.ClientOption
	// Prefix starts every key and pub/sub channel name the broker uses, so
	// several deployments can share one Redis. It must not contain '{' or
	// '}', which Redis Cluster reads as a hash tag. Default: DefaultPrefix.
	Prefix string
	// IdleTTL is how long a channel's epoch and offset are kept after its
	// history and idempotency keys have all expired, counted from its last
	// publish or history read. After that the channel is forgotten and its
	// next use starts a new epoch at offset 0, as with the memory broker.
	// A channel whose history has no time limit is never forgotten.
	// Zero or negative: DefaultIdleTTL (24h).
	IdleTTL time.Duration
	// MinReplicas is how many replicas must have a publication before
	// Publish acknowledges it, and before anyone sees it. Redis replicates asynchronously: a
	// publication only the primary had is lost when a replica takes over,
	// and the channel's next publication would be given its offset again
	// (see [Broker.Publish]).
	//
	//	0 (auto)  one while the primary has a replica online (past its
	//	          first sync), none while it has none (a single server, or
	//	          its replica is gone or still loading)
	//	n > 0     n, always: with fewer replicas connected every publish
	//	          is refused
	//	negative  none: acknowledge once the primary has it
	//
	// Default: 0 (auto), or the URL's min_replicas.
	MinReplicas int
	// ReplicaTimeout is how long Publish waits for MinReplicas replicas to
	// confirm a publication before it answers stream.ErrUnavailable; the
	// publication is then stored on the primary but seen by nobody, and a
	// retry with its idempotency key waits again and commits it rather
	// than storing it twice (see [Broker.Publish]).
	// Zero or negative: the URL's replica_timeout, or
	// DefaultReplicaTimeout (1s).
	ReplicaTimeout time.Duration
	// Logger receives connection losses and repairs. Default: slog.Default().
	Logger *slog.Logger
}

// Broker is the Redis broker: history, offsets and idempotency keys live in
// Redis, so any number of nodes sharing one Redis (or one Redis Cluster)
// see the same channels, and a publication on one node reaches every
// node subscribed to its channel. Create it with New, call Run to have
// publications delivered, and Close it when done. All methods are safe for
// concurrent use.
type Broker struct {
	client  rueidis.Client
	log     *slog.Logger
	tagOpen string // "{prefix:", the start of every key and pub/sub name
	idleTTL time.Duration
	idleMS  string
	// replicas is how Publish waits for replicas (see Config.MinReplicas).
	replicas replicaPolicy

	closeOnce sync.Once
	closed    atomic.Bool
	running   atomic.Bool
	// healthy: Run holds a live pub/sub connection with every
	// subscription confirmed on it.
	healthy atomic.Bool
	// probe asks Redis for an answer while Run delivers (see ask): a
	// Redis that hangs keeps its connections open, so only an unanswered
	// request shows it, and a cluster whose primary fails over still
	// answers on its other nodes.
	probe probe.Probe

	// ops serialise Subscribe and Unsubscribe of one channel, so the
	// order in which Redis sees them is the order they were called in.
	ops [numOps]sync.Mutex

	// subs are the channels this node is subscribed to. A subscription is
	// added only under mu while conn is set, so a new connection, which
	// subscribes to everything in subs, cannot miss one.
	subs relay.Set

	mu sync.RWMutex
	// conn is the live pub/sub connection, nil while there is none; ready
	// is open exactly while conn is set (both change under mu), and
	// Subscribe waits at it.
	conn  *pubsubConn
	ready relay.Gate

	inbox inbox

	// unreadable counts the live publications this node could not read.
	unreadable atomic.Uint64

	// sockets are the client's connections, which Close cuts first.
	sockets sockets
}

const numOps = 64

// New connects to Redis, checks that it answers, is MinServerVersion or
// later and has every command the broker uses (see checkServer), and
// returns a Broker ready for Publish and History. It fails, wrapping
// stream.ErrUnavailable, when Redis cannot be reached: a node does not
// start without its broker, but once started it rides out outages (see
// Run). ctx bounds the checks; the first dial is bounded by the client's
// dial timeout (5s unless Options or the URL's dial_timeout say otherwise).
func New(ctx context.Context, cfg Config) (*Broker, error) {
	cfg, pol, err := cfg.replicaPolicy()
	if err != nil {
		return nil, fmt.Errorf("redis broker: %w", err)
	}
	opt, err := cfg.clientOption()
	if err != nil {
		return nil, fmt.Errorf("redis broker: %w", err)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redis broker: prefix %q contains a brace", prefix)
	}
	idle := cfg.IdleTTL
	if idle <= 0 {
		idle = DefaultIdleTTL
	}
	b := &Broker{
		log:      cfg.Logger,
		tagOpen:  "{" + prefix + ":",
		idleTTL:  idle,
		idleMS:   strconv.FormatInt(millis(idle), 10),
		replicas: pol,
		inbox:    inbox{signal: make(chan struct{}, 1)},
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.probe = probe.Probe{What: "redis: PING", Logger: b.log, Ask: b.ask}
	b.sockets.track(&opt)
	if b.client, err = rueidis.NewClient(opt); err != nil {
		return nil, fmt.Errorf("redis broker: connect: %w: %w", stream.ErrUnavailable, err)
	}
	if b.client.Mode() == rueidis.ClientModeCluster {
		b.probe.What = "redis cluster: CLUSTER SLOTS and CLUSTER INFO of every primary"
	}
	if err := b.checkServer(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("redis broker: %w", err)
	}
	return b, nil
}

func (cfg Config) clientOption() (rueidis.ClientOption, error) {
	set := 0
	for _, s := range []bool{cfg.URL != "", len(cfg.Addrs) > 0, cfg.Options != nil} {
		if s {
			set++
		}
	}
	if set > 1 {
		return rueidis.ClientOption{}, errors.New("set one of URL, Addrs and Options")
	}
	var opt rueidis.ClientOption
	switch {
	case cfg.Options != nil:
		opt = *cfg.Options
	case len(cfg.Addrs) > 0:
		opt.InitAddress = cfg.Addrs
	default:
		u := cfg.URL
		if u == "" {
			u = DefaultURL
		}
		var err error
		if opt, err = rueidis.ParseURL(u); err != nil {
			return opt, err
		}
	}
	opt.DisableCache = true
	// A connection with a reader always running notices at once that
	// Redis closed it (a restart), instead of failing the next command
	// sent on it; a publish that fails that way cannot be retried blindly.
	opt.AlwaysPipelining = true
	if opt.ClientName == "" {
		opt.ClientName = "switchboard"
	}
	return opt, nil
}

// Close closes the connections to Redis, at once: it does not wait for a
// Redis that does not answer (see sockets). Call it once Run has returned;
// a Run still running returns an error. Close may be called more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.sockets.closeAll()
		b.client.Close()
	})
}

// Ping asks Redis for an answer. A /readyz handler uses it with Healthy.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.client.Do(ctx, b.client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis ping: %w", classify(err))
	}
	return nil
}

// Unreadable is how many live publications this node could not read since
// New: each was filled from history or, if history could not read it
// either, reported to subscribers as a gap (see [relay.Relay]). For
// /metrics.
func (b *Broker) Unreadable() uint64 { return b.unreadable.Load() }

// Healthy reports whether Run is delivering: it holds a live pub/sub
// connection on which every subscription of this node is confirmed, and
// Redis answered its last probe in time (see [probe.Interval]). It is false
// before Run starts, while Redis is unreachable or does not answer (a
// stopped server keeps its connections open), and while a lost connection
// is being replaced. On a Redis Cluster it is also false while any hash
// slot has no primary that answers and sees the cluster ok: during a
// primary's failover, the channels of its slots refuse publishes.
func (b *Broker) Healthy() bool { return b.healthy.Load() && b.probe.Answering() }

// classify wraps an error from Redis with the sentinel callers branch on:
// the context's own error, or one that already wraps a sentinel, as it is; stream.ErrUnavailable when Redis could
// not be reached or said to come back later (loading its data, failing
// over, a script running too long); stream.ErrInternal for any other error
// reply.
func classify(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, stream.ErrUnavailable), errors.Is(err, stream.ErrInternal):
		return err
	case isRedisError(err) && !retryLater(err):
		return fmt.Errorf("%w: %w", stream.ErrInternal, err)
	default:
		return fmt.Errorf("%w: %w", stream.ErrUnavailable, err)
	}
}

func isRedisError(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok
}

// retryLater reports whether err is an error reply that passes on its own.
func retryLater(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	if re.IsLoading() || re.IsTryAgain() || re.IsClusterDown() {
		return true
	}
	msg := re.Error()
	for _, prefix := range []string{"BUSY ", "MASTERDOWN ", "READONLY "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// Keys of one channel all start with the hash tag "{prefix:channel}", so
// Redis Cluster keeps them in one slot and one script may touch them all.
// The tag itself names the channel's pub/sub channel.
const (
	metaSuffix    = "}:meta"
	historySuffix = "}:history"
	keySuffix     = "}:key:"
)

func (b *Broker) pubsubName(ch string) string { return b.tagOpen + ch + "}" }

// channelOf is pubsubName backwards; it returns a substring of name.
func (b *Broker) channelOf(name string) (string, bool) {
	ch, ok := strings.CutPrefix(name, b.tagOpen)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(ch, "}")
}

// channelKeys returns the meta and history keys of a channel.
func (b *Broker) channelKeys(ch string) []string {
	return []string{b.tagOpen + ch + metaSuffix, b.tagOpen + ch + historySuffix}
}

// epochBytes random bytes make an 8-character base64url epoch, like the
// memory broker's. Every script call carries a fresh one, used only when
// the channel has none: Lua's own random numbers are seeded the same way
// in every script run.
const epochBytes = 6

func newEpoch() string {
	var b [epochBytes]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	var s [epochBytes * 4 / 3]byte
	base64.RawURLEncoding.Encode(s[:], b[:])
	return string(s[:])
}

// millis rounds d up to whole milliseconds, so a positive duration never
// becomes the 0 that means "none".
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
