package nats

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/broker/internal/probe"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// Defaults for Config fields left zero.
const (
	DefaultURL     = "nats://127.0.0.1:4222"
	DefaultStream  = "SWITCHBOARD"
	DefaultPrefix  = "switchboard"
	DefaultIdleTTL = 24 * time.Hour
	// DefaultDuplicates is the stream's deduplication window, which guards
	// a keyed publish whose node failed half way (see the package doc).
	DefaultDuplicates = stream.DefaultKeyTTL
)

// Config configures a Broker. Its zero value works against a NATS server
// on 127.0.0.1:4222 with JetStream enabled; every field documents its
// default.
type Config struct {
	// URL locates NATS: nats://[user:password@]host:port, several servers
	// separated by commas, and these query parameters, each of which sets
	// the field of the same meaning unless that field is set already:
	//
	//	stream=NAME      Stream          replicas=N         Replicas
	//	prefix=P         Prefix          storage=memory     MemoryStorage
	//	idle_ttl=24h     IdleTTL         creds=/path/file   a credentials file
	//	name=NODE        the connection name shown by the server
	//
	// Default: DefaultURL.
	URL string
	// Options are more nats.go connection options (TLS, tokens, NKeys),
	// applied after the broker's own.
	Options []natsgo.Option
	// Stream names the JetStream stream that holds every channel. Several
	// deployments sharing one NATS account use different names and
	// prefixes. Default: DefaultStream.
	Stream string
	// Prefix starts every subject the broker uses. It must be a valid
	// subject without wildcards. Default: DefaultPrefix.
	Prefix string
	// Replicas is the stream's replication factor in a NATS cluster.
	// Default: 1.
	Replicas int
	// MemoryStorage keeps the stream in memory instead of files: faster,
	// and lost when the NATS server restarts (every channel then starts a
	// new epoch). Default: false (file storage).
	MemoryStorage bool
	// IdleTTL is how long a channel's epoch and offset are kept after its
	// history has expired, as with the Redis broker. A channel whose history
	// has no time limit is never forgotten. Default: DefaultIdleTTL.
	IdleTTL time.Duration
	// Logger receives connection losses and repairs. Default: slog.Default().
	Logger *slog.Logger
}

// Broker is the NATS broker: offsets, history and idempotency keys live in
// one JetStream stream, and publications reach every subscribed node as
// the stream republishes them once stored. Create it with New, call Run to
// have publications delivered, and Close it when done. All methods are safe
// for concurrent use.
type Broker struct {
	nc  *natsgo.Conn
	js  jetstream.JetStream
	log *slog.Logger
	cfg Config // with defaults applied

	closeOnce sync.Once
	running   atomic.Bool
	// probe asks JetStream for the stream's information while Run
	// delivers: a server that hangs, or a stream that lost its leader,
	// keeps the connection open, so only an unanswered request shows it.
	probe probe.Probe
	// repairAll is set when something may have been lost on the way to
	// this node (a reconnect, a dropped message); the delivery loop then
	// reads every subscribed channel's history.
	repairAll atomic.Bool

	// pubs serialise this node's publishers of one channel, so they do not
	// make each other retry; publishers on other nodes are ordered by
	// JetStream's per-subject check alone.
	pubs [numLocks]sync.Mutex
	// ops serialise Subscribe and Unsubscribe of one channel.
	ops [numLocks]sync.Mutex

	// subs are the channels this node is subscribed to, and live holds,
	// for each of them (a *relay.Sub), the *natsgo.Subscription of its
	// live subject.
	subs relay.Set
	live sync.Map

	// ready is open while Run is delivering.
	ready relay.Gate
	// unreadable counts the live publications this node could not read.
	unreadable atomic.Uint64

	// msgs receives every live message of every subscription; signal
	// wakes the delivery loop for repairAll.
	msgs   chan *natsgo.Msg
	signal chan struct{}
}

const (
	numLocks = 256
	// liveBuffer is how many live messages may wait for the delivery loop.
	// Beyond it nats.go drops messages, which the loop then repairs from
	// history.
	liveBuffer = 1 << 16
	// requestTimeout bounds one JetStream request when the caller's ctx
	// has no deadline.
	requestTimeout = 10 * time.Second
)

// New connects to NATS, checks that the server is MinServerVersion or
// later, makes sure the stream exists with the settings the broker needs,
// and returns a Broker ready for Publish and History. It fails, wrapping
// stream.ErrUnavailable, when NATS cannot be reached or has no JetStream,
// and with an error naming MinServerVersion when the server is older or
// dropped a setting of the stream: a node does not start without its
// broker, but once started it rides out outages (see Run).
func New(ctx context.Context, cfg Config) (*Broker, error) {
	servers, opts, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("nats broker: %w", err)
	}
	b := &Broker{
		cfg:    cfg,
		log:    cfg.Logger,
		msgs:   make(chan *natsgo.Msg, liveBuffer),
		signal: make(chan struct{}, 1),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.probe = probe.Probe{What: "nats: JetStream stream " + cfg.Stream, Logger: b.log, Ask: func(ctx context.Context) error {
		_, err := b.js.Stream(ctx, b.cfg.Stream)
		return err
	}}
	all := []natsgo.Option{
		natsgo.Name("switchboard"),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250 * time.Millisecond),
		natsgo.ReconnectJitter(250*time.Millisecond, time.Second),
		// Publishes are requests that wait for JetStream's answer; one
		// buffered while disconnected would only time out later.
		natsgo.ReconnectBufSize(-1),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil { // nil: Close
				b.log.Warn("nats: connection lost; reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			b.log.Info("nats: connected again; repairing what subscriptions missed", "server", nc.ConnectedUrlRedacted())
			b.requestRepair()
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				// A live message was dropped: fill it in from history.
				b.requestRepair()
				return
			}
			b.log.Warn("nats: asynchronous error", "err", err)
		}),
	}
	all = append(all, opts...)
	if b.nc, err = natsgo.Connect(servers, all...); err != nil {
		return nil, fmt.Errorf("nats broker: connect: %w: %w", stream.ErrUnavailable, err)
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		b.nc.Close()
		return nil, fmt.Errorf("nats broker: %w", err)
	}
	if err := b.checkServer(ctx); err != nil {
		b.nc.Close()
		return nil, fmt.Errorf("nats broker: %w", err)
	}
	if err := b.ensureStream(ctx); err != nil {
		b.nc.Close()
		return nil, fmt.Errorf("nats broker: %w", err)
	}
	return b, nil
}

// resolve applies defaults and the URL's query parameters to cfg, and
// returns the server list and the options they add.
func (cfg *Config) resolve() (string, []natsgo.Option, error) {
	raw := cfg.URL
	if raw == "" {
		raw = DefaultURL
	}
	var opts []natsgo.Option
	servers, query, _ := strings.Cut(raw, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("URL query: %w", err)
	}
	for k, v := range q {
		val := v[len(v)-1]
		switch k {
		case "stream":
			cfg.Stream = orDefault(cfg.Stream, val)
		case "prefix":
			cfg.Prefix = orDefault(cfg.Prefix, val)
		case "replicas":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 5 {
				return "", nil, fmt.Errorf("replicas=%q: want 1 to 5", val)
			}
			if cfg.Replicas == 0 {
				cfg.Replicas = n
			}
		case "storage":
			switch val {
			case "memory":
				cfg.MemoryStorage = true
			case "file":
			default:
				return "", nil, fmt.Errorf("storage=%q: want file or memory", val)
			}
		case "idle_ttl":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return "", nil, fmt.Errorf("idle_ttl=%q: want a positive duration", val)
			}
			if cfg.IdleTTL == 0 {
				cfg.IdleTTL = d
			}
		case "creds":
			opts = append(opts, natsgo.UserCredentials(val))
		case "name":
			opts = append(opts, natsgo.Name(val))
		default:
			return "", nil, fmt.Errorf("unknown URL parameter %q", k)
		}
	}
	cfg.Stream = orDefault(cfg.Stream, DefaultStream)
	cfg.Prefix = orDefault(cfg.Prefix, DefaultPrefix)
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.IdleTTL <= 0 {
		cfg.IdleTTL = DefaultIdleTTL
	}
	if strings.ContainsAny(cfg.Stream, ". *>\t\r\n/\\") {
		return "", nil, fmt.Errorf("stream name %q: must not contain '.', '*', '>', '/', '\\' or spaces", cfg.Stream)
	}
	for _, tok := range strings.Split(cfg.Prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return "", nil, fmt.Errorf("prefix %q: not a subject without wildcards", cfg.Prefix)
		}
	}
	return servers, opts, nil
}

// orDefault returns a unless it is empty, then b.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// streamConfig is the stream the broker needs: one subject per channel for
// its publications, one per idempotency key, per-message TTLs, and the
// republishing of every stored publication to the channel's live subject.
func (b *Broker) streamConfig() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if b.cfg.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        b.cfg.Stream,
		Description: "Switchboard channels: history, offsets and idempotency keys",
		Subjects:    []string{b.cfg.Prefix + ".c.*", b.cfg.Prefix + ".k.*"},
		Storage:     storage,
		Replicas:    b.cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  DefaultDuplicates,
		AllowMsgTTL: true,
		// Batch reads of history; single reads go to the leader.
		AllowDirect: true,
		RePublish: &jetstream.RePublish{
			Source:      b.cfg.Prefix + ".c.*",
			Destination: b.cfg.Prefix + ".live.{{wildcard(1)}}",
		},
	}
}

// ensureStream creates the stream, or updates one that exists to the
// settings above, and checks that the server kept them.
func (b *Broker) ensureStream(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	st, err := b.js.CreateOrUpdateStream(ctx, b.streamConfig())
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.cfg.Stream, classify(err))
	}
	return checkStream(&st.CachedInfo().Config)
}

// Close closes the connection to NATS. Call it once Run has returned.
// Close may be called more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(b.nc.Close)
}

// Ping asks NATS for an answer: a round trip on the connection.
func (b *Broker) Ping(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats ping: %w", classify(err))
	}
	return nil
}

// Unreadable is how many live publications this node could not read since
// New: each was filled from history or, if history could not read it
// either, reported to subscribers as a gap (see [relay.Relay]). For
// /metrics.
func (b *Broker) Unreadable() uint64 { return b.unreadable.Load() }

// Healthy reports whether Run is delivering over a live connection and
// JetStream answered its last probe in time (see [probe.Interval]). It is
// false before Run starts, while NATS is unreachable, and while it does not
// answer (a server that hangs keeps the connection open).
func (b *Broker) Healthy() bool {
	return b.running.Load() && b.nc.IsConnected() && b.probe.Answering()
}

// withTimeout gives ctx a deadline when it has none, since a JetStream
// request without one could wait for ever on a server that lost it.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// classify wraps an error from NATS with the sentinel callers branch on:
// the context's own error as it is; stream.ErrInternal for an error that
// JetStream answered with and that will not pass on its own, and for a
// stored message this node cannot read;
// stream.ErrUnavailable for everything else (no connection, no answer, no
// stream, no leader).
func classify(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, stream.ErrInternal):
		return err // classified already
	case errors.Is(err, errMalformed):
		// A stored message this node cannot read stays unreadable.
		return fmt.Errorf("%w: %w", stream.ErrInternal, err)
	case errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 &&
		apiErr.ErrorCode != jetstream.JSErrCodeStreamNotFound &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount:
		return fmt.Errorf("%w: %w", stream.ErrInternal, err)
	default:
		return fmt.Errorf("%w: %w", stream.ErrUnavailable, err)
	}
}

// streamLost reports whether err says the stream is not there (a NATS
// restart lost a memory stream, or someone deleted it), which ensureStream
// fixes.
func streamLost(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound {
		return true
	}
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, natsgo.ErrNoResponders)
}

// Subjects. A channel name is one subject token: '.' is the only byte of
// the channel alphabet that subjects reserve, and '%', which channels never
// contain, stands in for it.

func escape(ch string) string    { return strings.ReplaceAll(ch, ".", "%") }
func unescape(tok string) string { return strings.ReplaceAll(tok, "%", ".") }

func (b *Broker) channelSubject(ch string) string { return b.cfg.Prefix + ".c." + escape(ch) }
func (b *Broker) liveSubject(ch string) string    { return b.cfg.Prefix + ".live." + escape(ch) }

// channelOfLive is liveSubject backwards.
func (b *Broker) channelOfLive(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, b.cfg.Prefix+".live.")
	if !ok {
		return "", false
	}
	return unescape(tok), true
}

var lockSeed = maphash.MakeSeed()

func lockOf(locks *[numLocks]sync.Mutex, ch string) *sync.Mutex {
	return &locks[maphash.String(lockSeed, ch)%numLocks]
}

// epochBytes random bytes make an 8-character base64url epoch, like the
// other brokers'.
const epochBytes = 6

func newEpoch() string {
	var b [epochBytes]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}
