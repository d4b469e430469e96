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

	// Verifier checks client tokens. Nil: clients connect anonymously only
	// and every token is refused.
	Verifier *auth.Verifier
	// Origins is the allow-list of browser origins for WebSocket upgrades
	// and CORS on the HTTP transports. Nil: same origin only (and
	// non-browser clients, which send none).
	Origins *auth.Origins

	// ShutdownDrain is the period over which sessions are told to reconnect
	// elsewhere on shutdown. Default 5s: long enough that a node with many
	// clients does not send them all back to its peers in one instant, short
	// enough for an orchestrator's default grace period (30s).
	ShutdownDrain time.Duration
	// ShutdownTimeout bounds the whole shutdown: the drain, in-flight API
	// requests and the end of every connection. Default ShutdownDrain + 10s.
	ShutdownTimeout time.Duration

	// ConnectTimeout is how long a WebSocket client has to send connect.
	// Default: the WebSocket handler's (10s).
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to a WebSocket client. Default: the
	// WebSocket handler's (10s).
	WriteTimeout time.Duration

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
	// TLSCertFile and TLSKeyFile, when both set, make Serve speak HTTPS
	// (with HTTP/2, so many SSE streams share one connection) instead of
	// plain HTTP. Both are PEM files.
	TLSCertFile string
	TLSKeyFile  string
	// DebugEndpoints serves /debug/gc and /debug/pprof/, behind the API key,
	// for measuring a node (default off).
	DebugEndpoints bool
	// DashboardFeed, when set, is a channel the node publishes its own
	// figures to (sessions, rates, memory, CPU) every DashboardInterval,
	// for the demo dashboard page. Empty (the default) publishes nothing.
	DashboardFeed string
	// DashboardInterval is the feed's period (default 100ms: ten updates
	// a second).
	DashboardInterval time.Duration
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
	if out.DashboardInterval < 0 {
		return out, errors.New("server: Config.DashboardInterval is negative")
	}
	if out.DashboardInterval == 0 {
		out.DashboardInterval = defaultDashboardInterval
	}
	if out.ShutdownDrain < 0 {
		return out, errors.New("server: Config.ShutdownDrain is negative")
	}
	if out.ShutdownDrain == 0 {
		out.ShutdownDrain = defaultShutdownDrain
	}
	if out.ShutdownTimeout <= 0 {
		out.ShutdownTimeout = out.ShutdownDrain + shutdownSlack
	}
	if out.Version == "" {
		out.Version = "dev"
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}
