package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
)

// Config configures a Server. Its zero value works once Hub is set; each
// field documents its default.
type Config struct {
	// Hub is the node the server fronts. Required. The caller runs it
	// (hub.Run) for at least as long as Serve runs; Serve shuts it down.
	Hub *hub.Hub
	// APIKey authenticates the HTTP API (`Authorization: apikey <key>`).
	// Empty: the API refuses every request, so a node started without a key
	// is never open by accident.
	APIKey string
	// Addr is where ListenAndServe listens. Default ":8000".
	Addr string
	// MaxOpenConnections is the most client connections Serve keeps open
	// at once; a connection beyond it is accepted and closed at once, so
	// the client learns the node is full instead of hanging in the listen
	// backlog. It must leave room above the hub's MaxConnections (the
	// sessions) for requests that are not sessions: health, readiness,
	// metrics, the API and the clean refusals of clients over the session
	// limit. Default: MaxConnections plus half of [DescriptorReserve] of
	// the open-file limit ([OpenFileLimit]), and never beyond the open-file
	// limit less that half.
	MaxOpenConnections int

	// Verifier checks client tokens. Nil: clients connect anonymously only
	// and every token is refused.
	Verifier *auth.Verifier
	// Origins is the allow-list of browser origins for WebSocket upgrades
	// and CORS on the HTTP transports. Nil: same origin only (and
	// non-browser clients, which send none).
	Origins *auth.Origins

	// ShutdownDelay is how long the node keeps listening and serving, with
	// /readyz answering 503, once shutdown begins and before it stops
	// accepting: the time a load balancer or Kubernetes needs to see the
	// 503 (or the pod's removal) and stop sending new clients here. Without
	// it the listener closes at once and a balancer that has not caught up
	// sends clients to a closed port. Default 0: no wait, for a node with
	// nothing in front of it.
	ShutdownDelay time.Duration
	// ShutdownDrain is the period over which sessions are told to reconnect
	// elsewhere on shutdown. Default 5s: long enough that a node with many
	// clients does not send them all back to its peers in one instant, short
	// enough for an orchestrator's default grace period (30s).
	ShutdownDrain time.Duration
	// ShutdownTimeout bounds the whole shutdown: the delay, the drain,
	// in-flight API requests and the end of every connection. Default
	// ShutdownDelay + ShutdownDrain + 10s.
	ShutdownTimeout time.Duration

	// HTTP bounds every request that is not a stream; a zero field takes
	// its default.
	HTTP HTTPConfig
	// ClientRequestRate is how many requests a second one client may make,
	// on average, of the client endpoints POST /connection/publish, GET
	// /connection/history and GET /connection/presence together, and
	// ClientRequestBurst how many at once; a client over it gets 429 with
	// code 110 and Retry-After. A client is its token's subject, else its
	// address (see [command.Handler.ServeHTTP]). Defaults 100 and 200, as
	// for a WebSocket's commands. The HTTP API, behind the API key, is not
	// limited.
	ClientRequestRate  float64
	ClientRequestBurst int
	// WebSocket, SSE and Poll tune the transports' handlers; a zero field
	// takes the handler's default.
	WebSocket WebSocketConfig
	SSE       SSEConfig
	Poll      PollConfig

	// Version is reported by /api/info. Default "dev".
	Version string
	// BrokerKind names the broker behind the hub ("memory", "redis", ...),
	// for /api/info. Default: not reported.
	BrokerKind string
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// BrokerHealth, when set, tells whether the broker is reachable:
	// /readyz answers 503 while it returns an error, so a load balancer
	// sends clients to nodes that can serve them.
	BrokerHealth func() error
	// KeyStats, when set, counts the idempotency keys the broker holds in
	// this node's memory and the bytes they count against its bound, for
	// /metrics (switchboard_idempotency_keys and
	// switchboard_idempotency_key_bytes).
	KeyStats func() (keys, bytes int64)
	// BrokerUnreadable, when set, counts the live publications the broker
	// could not read (each filled from history or reported to subscribers
	// as a gap), for /metrics (switchboard_broker_unreadable_total).
	BrokerUnreadable func() uint64
	// TLSCertFile and TLSKeyFile, when both set, make Serve speak HTTPS
	// (with HTTP/2, so many SSE streams share one connection) instead of
	// plain HTTP. Both are PEM files.
	TLSCertFile string
	TLSKeyFile  string
	// DebugEndpoints serves /debug/gc and /debug/pprof/, behind the API key,
	// for measuring a node (default off).
	DebugEndpoints bool
	// GRPCServices are served beside switchboard.v1.ClientService on the
	// same listener (see [GRPCService]): package server mounts the client
	// service itself, and an embedder adds more, such as APIService.
	GRPCServices []GRPCService
	// DashboardFeed, when set, is a channel the node publishes its own
	// figures to (sessions, rates, memory, CPU) every DashboardInterval,
	// for the demo dashboard page. Empty (the default) publishes nothing.
	DashboardFeed string
	// DashboardInterval is the feed's period (default 100ms: ten updates
	// a second).
	DashboardInterval time.Duration
}

// HTTPConfig bounds the node's requests that are not streams: the client
// publish, history and presence endpoints, a poll's answer, the HTTP API,
// health, metrics and the pages (see [transport.Bound]). A client that does
// not send its request body in time gets 408 (code 107) and its connection
// closed; one that does not take its reply in time has its connection
// closed mid-reply.
type HTTPConfig struct {
	// ReadTimeout is how long a request's body may take to arrive, from
	// the end of its headers. Default 10s.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout is how long a reply may take to write, from its first
	// byte. Default 10s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
}

// WebSocketConfig is what may be tuned of the WebSocket transport: the
// settings of [ws.Config] that are not the node's own.
type WebSocketConfig struct {
	// MaxFrameSize is the largest frame accepted from a client, in bytes.
	// Default: the hub's MaxMessageSize plus 4 KiB for the command around
	// it.
	MaxFrameSize int `koanf:"max_frame_size"`
	// ConnectTimeout is how long a client has to send connect after the
	// upgrade. Default 10s.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// WriteTimeout bounds one write to a client; a client that takes
	// longer is dropped. Default 10s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
}

// SSEConfig is what may be tuned of Server-Sent Events: the settings of
// [sse.Config] that are not the node's own.
type SSEConfig struct {
	// Retry is the base reconnect delay sent in the retry: line. Default
	// 2s.
	Retry time.Duration `koanf:"retry"`
	// RetryJitter is the most random delay added to Retry, drawn afresh
	// for every stream. Default: Retry. Negative: no jitter.
	RetryJitter time.Duration `koanf:"retry_jitter"`
	// WriteTimeout bounds one write to a client; a client that takes
	// longer is dropped. Default 10s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
}

// PollConfig is what may be tuned of long and short polling: the settings
// of [poll.Config] that are not the node's own.
type PollConfig struct {
	// DefaultTimeout is how long a poll without a timeout parameter is
	// held when there is nothing to answer. Default 25s, capped at
	// MaxTimeout.
	DefaultTimeout time.Duration `koanf:"default_timeout"`
	// MaxTimeout is the longest hold a client may ask for; a longer one is
	// refused with code 107. Default 60s.
	MaxTimeout time.Duration `koanf:"max_timeout"`
}

const (
	defaultAddr          = ":8000"
	defaultShutdownDrain = 5 * time.Second
	// shutdownSlack is what ShutdownTimeout adds to the drain by default:
	// time for the last sessions to flush and close after their
	// disconnect, and for in-flight API requests to finish.
	shutdownSlack = 10 * time.Second
	// readHeaderTimeout stops clients that open a connection and never
	// finish their request headers from holding it forever.
	readHeaderTimeout = 10 * time.Second
	// The client endpoints' request budget: the WebSocket command rate's
	// defaults, so a client may do as much over HTTP as over a socket.
	defaultClientRequestRate  = 100
	defaultClientRequestBurst = 200
	// idleTimeout closes keep-alive connections nobody uses.
	idleTimeout = 2 * time.Minute
)

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Hub == nil {
		return out, errors.New("server: Config.Hub is required")
	}
	if out.Addr == "" {
		out.Addr = defaultAddr
	}
	if out.MaxOpenConnections < 0 {
		return out, errors.New("server: Config.MaxOpenConnections is negative")
	}
	if out.MaxOpenConnections == 0 {
		out.MaxOpenConnections = openCap(out.Hub.Config().MaxConnections, OpenFileLimit())
	}
	if out.DashboardInterval < 0 {
		return out, errors.New("server: Config.DashboardInterval is negative")
	}
	if out.DashboardInterval == 0 {
		out.DashboardInterval = defaultDashboardInterval
	}
	if out.ShutdownDelay < 0 {
		return out, errors.New("server: Config.ShutdownDelay is negative")
	}
	if out.ShutdownDrain < 0 {
		return out, errors.New("server: Config.ShutdownDrain is negative")
	}
	if out.ShutdownDrain == 0 {
		out.ShutdownDrain = defaultShutdownDrain
	}
	if out.ShutdownTimeout <= 0 {
		out.ShutdownTimeout = out.ShutdownDelay + out.ShutdownDrain + shutdownSlack
	}
	if out.ClientRequestRate <= 0 {
		out.ClientRequestRate = defaultClientRequestRate
	}
	if out.ClientRequestBurst <= 0 {
		out.ClientRequestBurst = defaultClientRequestBurst
	}
	if out.Version == "" {
		out.Version = "dev"
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}
