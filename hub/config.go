package hub

import (
	"errors"
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Config configures a Hub. Its zero value works once Broker is set; each
// field documents its default.
type Config struct {
	// Broker assigns offsets, keeps history and links nodes. Required.
	Broker Broker
	// Policy decides what clients may do. Nil lets every client do
	// everything (the HTTP API is never asked).
	Policy Policy
	// Presence keeps the clients of channels whose namespace has presence
	// on, across nodes. Nil: presence is not available on this node.
	Presence Presence
	// PresenceTTL is how long an entry of a session lives unless refreshed;
	// the hub refreshes its sessions' entries every third of it, so a node
	// that dies leaves none behind for longer. Default 30s.
	PresenceTTL time.Duration
	// JoinLeaveInterval is how long join and leave events of a channel are
	// gathered before they are pushed: the events of one interval reach
	// each subscriber as one push, so N clients joining a channel cost its
	// subscribers one push per interval rather than N each. Negative: each
	// event is pushed as it arrives. Default 100ms.
	JoinLeaveInterval time.Duration
	// JoinLeaveLimit is the most local subscribers a channel may have for
	// its join and leave events to be pushed; beyond it they are not, and
	// subscribers list the channel's presence instead. Negative: no limit.
	// Default 1,000.
	JoinLeaveLimit int
	// Control carries control messages, such as a user's disconnect, to
	// every node. Nil: DisconnectUserEverywhere acts on this node only.
	Control Control
	// DisconnectTTL is how long, after DisconnectUserEverywhere, the node
	// refuses the user's tokens issued before the disconnect. Default 1h.
	DisconnectTTL time.Duration
	// Namespaces resolves channel options. Nil gives every channel the zero
	// stream.Namespace.
	Namespaces *stream.Namespaces
	// Logger receives the hub's logs. Default: slog.Default().
	Logger *slog.Logger

	// QueueLimit is the most bytes a session may have queued and not yet
	// taken by its writer — live publications, replies, pings, presence
	// pushes, and live publications buffered while a replay is queued —
	// before it is disconnected as slow (stream.ErrSlowConsumer). Replays
	// are queued while the queue is under half of it, waiting for the
	// writer. A replaying subscription buffers live publications up to a
	// quarter of it; beyond that it drops them and reads them from history
	// instead, so a busy channel does not end a resuming session. Default
	// 1 MiB.
	QueueLimit int
	// MaxReplyBytes is the most bytes of publications (by [ReplySize]) one
	// history reply holds, whatever its limit; at least one publication is
	// always returned when any matches. Default 1 MiB.
	MaxReplyBytes int
	// MaxChannels is the most channels one session may subscribe to.
	// Default 128.
	MaxChannels int
	// MaxConnections is the most sessions this node holds at once.
	// Default 100,000.
	MaxConnections int
	// MaxMessageSize is the largest publication payload, in bytes.
	// Default 64 KiB.
	MaxMessageSize int
	// CommandRate is how many commands per second one session may send on
	// average, and CommandBurst how many at once. Defaults 100 and 200.
	CommandRate  float64
	CommandBurst int
	// MaxRecovery is the most publications replayed when a subscriber
	// resumes; a longer gap answers recovered: false. Default 10,000.
	MaxRecovery int
	// BrokerTimeout bounds every call the hub makes to the Broker (and to
	// Presence): a broker that has not answered by then is taken as
	// unavailable, and the caller gets stream.ErrUnavailable (503/117)
	// instead of waiting for it. Default 5s.
	BrokerTimeout time.Duration
	// PingInterval is how often sessions get a keep-alive. A session that
	// must answer pings and has not answered the previous one when the next
	// is due is dropped with stream.ErrNoPong. Default 25s.
	PingInterval time.Duration
}

const (
	defaultQueueLimit     = 1 << 20
	defaultMaxReplyBytes  = 1 << 20
	defaultMaxChannels    = 128
	defaultMaxConnections = 100_000
	defaultMaxMessageSize = 64 << 10
	defaultCommandRate    = 100
	defaultCommandBurst   = 200
	defaultMaxRecovery    = 10_000
	defaultPingInterval   = 25 * time.Second
	defaultPresenceTTL    = 30 * time.Second
	defaultJoinLeave      = 100 * time.Millisecond
	defaultJoinLeaveLimit = 1000
	defaultDisconnectTTL  = time.Hour
	defaultBrokerTimeout  = 5 * time.Second
)

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Broker == nil {
		return out, errors.New("hub: Config.Broker is required")
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	setDefault(&out.QueueLimit, defaultQueueLimit)
	setDefault(&out.MaxReplyBytes, defaultMaxReplyBytes)
	setDefault(&out.MaxChannels, defaultMaxChannels)
	setDefault(&out.MaxConnections, defaultMaxConnections)
	setDefault(&out.MaxMessageSize, defaultMaxMessageSize)
	setDefault(&out.CommandBurst, defaultCommandBurst)
	setDefault(&out.MaxRecovery, defaultMaxRecovery)
	if out.CommandRate <= 0 {
		out.CommandRate = defaultCommandRate
	}
	if out.PingInterval <= 0 {
		out.PingInterval = defaultPingInterval
	}
	if out.PresenceTTL <= 0 {
		out.PresenceTTL = defaultPresenceTTL
	}
	if out.JoinLeaveInterval == 0 {
		out.JoinLeaveInterval = defaultJoinLeave
	}
	if out.JoinLeaveLimit == 0 {
		out.JoinLeaveLimit = defaultJoinLeaveLimit
	}
	if out.BrokerTimeout <= 0 {
		out.BrokerTimeout = defaultBrokerTimeout
	}
	if out.DisconnectTTL <= 0 {
		out.DisconnectTTL = defaultDisconnectTTL
	}
	return out, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}
