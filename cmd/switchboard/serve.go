package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

func newServeCmd(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node",
		Long: `Run a Switchboard node: WebSocket clients, the HTTP API, metrics and the demo pages
on one listener.

Every setting is a flag, an environment variable and a config-file key, in that
order of precedence; see docs/config.md. Without any, the node runs on the memory
broker at :8000 with the demo namespaces, and prints its API key.

SIGINT or SIGTERM shuts the node down gracefully: /readyz answers 503 while it
goes on serving for --shutdown-delay, then it stops accepting, tells clients to
reconnect (spread over --shutdown-drain) and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.load(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After the first signal, let a second one kill the process the
			// usual way, for when a graceful shutdown is not wanted.
			context.AfterFunc(ctx, stop)
			return serve(ctx, cfg, env.stdout, env.stderr)
		},
	}
	addSettingFlags(cmd.Flags())
	return cmd
}

// serve runs a node until ctx ends.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	// Every mistake at once, before anything is opened.
	log, logErr := newLogger(cfg, stderr)
	namespaces, nsErr := stream.NewNamespaces(cfg.DefaultNamespace, cfg.Namespaces)
	if nsErr != nil {
		nsErr = fmt.Errorf("namespaces: %w", nsErr)
	}
	if err := errors.Join(logErr, checkServe(cfg), nsErr); err != nil {
		return err
	}
	be, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer be.Close()
	tokenCfg := cfg.Token
	tokenCfg.Logger = log
	verifier, err := auth.NewVerifier(tokenCfg)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	defer verifier.Close()
	origins, err := auth.NewOrigins(cfg.AllowedOrigins)
	if err != nil {
		return fmt.Errorf("allowed_origins (%s): %w", cfg.source("allowed_origins"), err)
	}
	h, err := hub.New(hub.Config{
		Broker:            be.Broker,
		BrokerTimeout:     cfg.BrokerTimeout,
		Policy:            &auth.Policy{},
		Namespaces:        namespaces,
		Logger:            log,
		QueueLimit:        cfg.Limits.QueueBytes,
		MaxReplyBytes:     cfg.Limits.ReplyBytes,
		MaxChannels:       cfg.Limits.ChannelsPerConnection,
		MaxConnections:    connectionLimit(cfg, log),
		MaxMessageSize:    cfg.Limits.MessageSize,
		CommandRate:       cfg.Limits.CommandsPerSecond,
		CommandBurst:      cfg.Limits.CommandBurst,
		MaxRecovery:       cfg.Limits.MaxRecovery,
		PingInterval:      cfg.PingInterval,
		Presence:          be.Presence,
		PresenceTTL:       cfg.PresenceTTL,
		JoinLeaveInterval: cfg.JoinLeave,
		JoinLeaveLimit:    cfg.JoinLeaveLimit,
		Control:           be.Control,
		DisconnectTTL:     cfg.DisconnectTTL,
	})
	if err != nil {
		return err
	}

	apiKey, generated := cfg.APIKey, false
	if apiKey == "" {
		apiKey, generated = newAPIKey(), true
	}
	srv, err := server.New(server.Config{
		Hub:                h,
		APIKey:             apiKey,
		Addr:               cfg.Addr,
		Verifier:           verifier,
		Origins:            origins,
		ShutdownDelay:      cfg.ShutdownDelay,
		ShutdownDrain:      cfg.ShutdownDrain,
		ShutdownTimeout:    cfg.ShutdownTimeout,
		HTTP:               cfg.HTTP,
		ClientRequestRate:  cfg.Limits.HTTPRequestsPerSecond,
		ClientRequestBurst: cfg.Limits.HTTPRequestBurst,
		WebSocket:          cfg.WebSocket,
		SSE:                cfg.SSE,
		Poll:               cfg.Poll,
		Version:            versionString(),
		BrokerKind:         be.Kind,
		Logger:             log,
		DebugEndpoints:     cfg.DebugEndpoints,
		DashboardFeed:      cfg.DashboardFeed,
		TLSCertFile:        cfg.TLS.CertFile,
		TLSKeyFile:         cfg.TLS.KeyFile,
		BrokerHealth:       be.Health,
		KeyStats:           be.KeyStats,
		BrokerUnreadable:   be.Unreadable,
	})
	if err != nil {
		return err
	}
	ln, err := server.Listen(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (addr, %s): %w", cfg.Addr, cfg.source("addr"), err)
	}
	printBanner(stdout, ln.Addr(), be.Kind, apiKey, generated, cfg.source("api_key"), cfg.TLS.CertFile != "")

	// The hub runs for as long as the server serves, and a little longer:
	// until the server's shutdown has drained every session. If the hub
	// stops on its own (its broker failed), the server shuts down too.
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	hubDone := make(chan error, 1)
	go func() {
		defer stopServe()
		hubDone <- h.Run(hubCtx)
	}()
	serveErr := srv.Serve(serveCtx, ln)
	stopHub()
	hubErr := <-hubDone
	if hubErr != nil {
		hubErr = fmt.Errorf("hub: %w", hubErr)
	}
	return errors.Join(serveErr, hubErr)
}

// connectionLimit is the node's session limit: limits.connections, or
// when that is 0 the open-file limit less the descriptor reserve, which the
// server keeps for requests that are not sessions and for the process
// itself. Where the open-file limit is unknown it is 0, and the hub's own
// default applies. A limit the descriptors cannot carry is warned about:
// the listener's cap then stops clients before the hub does.
func connectionLimit(cfg *config, log *slog.Logger) int {
	nofile := server.OpenFileLimit()
	n := cfg.Limits.Connections
	if n == 0 {
		return server.SessionBudget(nofile)
	}
	if budget := server.SessionBudget(nofile); budget > 0 && n > budget {
		log.Warn("limits.connections is more than the open-file limit can carry; "+
			"clients beyond it are closed by the listener without a code (raise the limit with ulimit -n or LimitNOFILE=)",
			"limits.connections", n, "source", cfg.source("limits.connections"),
			"open_files", nofile, "reserve", server.DescriptorReserve(nofile), "most", budget)
	}
	return n
}

// redact hides a password in a broker URL before it is printed.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return u
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// checkServe checks the values that only mean something to serve, naming
// the key and where its value came from.
func checkServe(cfg *config) error {
	var errs []error
	bad := func(key string, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", key, cfg.source(key), fmt.Sprintf(format, a...)))
	}
	if cfg.Addr == "" {
		bad("addr", "must not be empty")
	}
	positive := map[string]int{
		"limits.message_size":            cfg.Limits.MessageSize,
		"limits.channels_per_connection": cfg.Limits.ChannelsPerConnection,
		"limits.queue_bytes":             cfg.Limits.QueueBytes,
		"limits.reply_bytes":             cfg.Limits.ReplyBytes,
		"limits.command_burst":           cfg.Limits.CommandBurst,
		"limits.http_request_burst":      cfg.Limits.HTTPRequestBurst,
		"limits.max_recovery":            cfg.Limits.MaxRecovery,
		"limits.keys_per_channel":        cfg.Limits.KeysPerChannel,
		"limits.key_bytes":               cfg.Limits.KeyBytes,
	}
	for _, s := range settings {
		if n, ok := positive[s.key]; ok && n <= 0 {
			bad(s.key, "must be positive, got %d", n)
		}
	}
	if cfg.Limits.Connections < 0 {
		bad("limits.connections", "must not be negative, got %d", cfg.Limits.Connections)
	}
	if cfg.Limits.CommandsPerSecond <= 0 {
		bad("limits.commands_per_second", "must be positive, got %g", cfg.Limits.CommandsPerSecond)
	}
	if cfg.Limits.HTTPRequestsPerSecond <= 0 {
		bad("limits.http_requests_per_second", "must be positive, got %g", cfg.Limits.HTTPRequestsPerSecond)
	}
	if cfg.BrokerTimeout <= 0 {
		bad("broker_timeout", "must be positive, got %s", cfg.BrokerTimeout)
	}
	if cfg.PingInterval <= 0 {
		bad("ping_interval", "must be positive, got %s", cfg.PingInterval)
	}
	if cfg.PresenceTTL <= 0 {
		bad("presence_ttl", "must be positive, got %s", cfg.PresenceTTL)
	}
	if cfg.DisconnectTTL <= 0 {
		bad("disconnect_ttl", "must be positive, got %s", cfg.DisconnectTTL)
	}
	if n := cfg.WebSocket.MaxFrameSize; n < 0 || (n > 0 && n < cfg.Limits.MessageSize) {
		bad("websocket.max_frame_size", "must be 0 or at least limits.message_size (%d, %s), got %d",
			cfg.Limits.MessageSize, cfg.source("limits.message_size"), n)
	}
	timeouts := map[string]time.Duration{
		"http.read_timeout":         cfg.HTTP.ReadTimeout,
		"http.write_timeout":        cfg.HTTP.WriteTimeout,
		"websocket.connect_timeout": cfg.WebSocket.ConnectTimeout,
		"websocket.write_timeout":   cfg.WebSocket.WriteTimeout,
		"sse.retry":                 cfg.SSE.Retry,
		"sse.write_timeout":         cfg.SSE.WriteTimeout,
		"poll.default_timeout":      cfg.Poll.DefaultTimeout,
		"poll.max_timeout":          cfg.Poll.MaxTimeout,
	}
	for _, s := range settings {
		if d, ok := timeouts[s.key]; ok && d <= 0 {
			bad(s.key, "must be positive, got %s", d)
		}
	}
	if cfg.Poll.DefaultTimeout > cfg.Poll.MaxTimeout && cfg.Poll.MaxTimeout > 0 {
		bad("poll.default_timeout", "must not be over poll.max_timeout (%s, %s), got %s",
			cfg.Poll.MaxTimeout, cfg.source("poll.max_timeout"), cfg.Poll.DefaultTimeout)
	}
	if cfg.ShutdownDelay < 0 {
		bad("shutdown_delay", "must not be negative, got %s", cfg.ShutdownDelay)
	}
	if cfg.ShutdownDrain < 0 {
		bad("shutdown_drain", "must not be negative, got %s", cfg.ShutdownDrain)
	}
	if cfg.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative, got %s", cfg.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

func newLogger(cfg *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("log_level (%s): %q is not one of debug, info, warn, error", cfg.source("log_level"), cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}
	switch strings.ToLower(cfg.LogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log_format (%s): %q is not text or json", cfg.source("log_format"), cfg.LogFormat)
}

// durationsAsText logs a duration as Go writes it ("5s", "1m30s") in every
// format: the JSON handler would write nanoseconds, which a reader has to
// divide and a config cannot take back.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// newAPIKey returns 192 random bits, URL-safe: unguessable, and easy to
// paste into a header.
func newAPIKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// printBanner tells the user where the node is. A wildcard listen address
// is shown as localhost, which is where the user's browser finds it.
func printBanner(w io.Writer, addr net.Addr, broker, apiKey string, generated bool, keySource string, secure bool) {
	web, ws := "http", "ws"
	if secure {
		web, ws = "https", "wss"
	}
	host, port := "localhost", ""
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = fmt.Sprint(tcp.Port)
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
	} else {
		_, port, _ = net.SplitHostPort(addr.String())
	}
	hp := net.JoinHostPort(host, port)
	fmt.Fprintf(w, "Switchboard %s is serving on %s (broker: %s)\n", versionString(), addr, broker)
	fmt.Fprintf(w, "  demo:      %s://%s/\n", web, hp)
	fmt.Fprintf(w, "  websocket: %s://%s/connection/websocket\n", ws, hp)
	fmt.Fprintf(w, "  sse:       %s://%s/connection/sse?channel=...\n", web, hp)
	fmt.Fprintf(w, "  polling:   %s://%s/connection/poll?channel=...&cursor=...\n", web, hp)
	fmt.Fprintf(w, "  grpc:      %s (gRPC, gRPC-Web and Connect: switchboard.v1.ClientService, APIService)\n", hp)
	fmt.Fprintf(w, "  api:       %s://%s/api/\n", web, hp)
	fmt.Fprintf(w, "  metrics:   %s://%s/metrics\n", web, hp)
	if generated {
		fmt.Fprintf(w, "  api key:   %s\n", apiKey)
		fmt.Fprintf(w, "             (generated for this run; set --api-key or SWITCHBOARD_API_KEY to keep one)\n")
	} else {
		// A configured key is a secret the user already has: keep it out
		// of logs.
		fmt.Fprintf(w, "  api key:   from %s\n", keySource)
	}
}
