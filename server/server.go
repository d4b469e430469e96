package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/internal/ratelimit"
	"github.com/switchboardhq/switchboard/transport"
	"github.com/switchboardhq/switchboard/transport/command"
	grpcsvc "github.com/switchboardhq/switchboard/transport/grpc"
	"github.com/switchboardhq/switchboard/transport/poll"
	"github.com/switchboardhq/switchboard/transport/sse"
	"github.com/switchboardhq/switchboard/transport/ws"
	"github.com/switchboardhq/switchboard/web"
)

// Server serves one node's endpoints on one listener. Build it with New, then
// call Serve or ListenAndServe once. Handler is safe to call at any time and
// from any goroutine.
type Server struct {
	cfg           Config
	hub           *hub.Hub
	log           *slog.Logger
	tls           *tls.Config // nil: plain HTTP
	ws            *ws.Handler
	sse           *sse.Handler
	poll          *poll.Handler
	clientPublish *command.Handler
	presence      *command.Handler
	clientHistory *command.Handler
	grpc          *grpcsvc.Service
	origins       transport.OriginChecker // nil: none configured
	mux           *http.ServeMux
	metrics       *prometheus.Registry
	started       time.Time
	// maxBody caps API request bodies: the largest publication plus room
	// for the JSON around it (channel names, key).
	maxBody int64

	// draining is set when shutdown begins; /readyz answers 503 from then.
	draining atomic.Bool
	serving  atomic.Bool
}

// wsPath is the WebSocket endpoint; the listener answers plain upgrades to
// it without net/http (direct.go).
const wsPath = "/connection/websocket"

// bodySlack is what an API request body may hold beyond the largest
// publication: channel names, the idempotency key and JSON punctuation.
// A broadcast to a few thousand channels still fits.
const bodySlack = 64 << 10

// New builds a Server ready to serve. It builds the WebSocket handler from
// cfg and registers the metrics collectors on a registry of its own, so
// several servers can live in one process (as they do in tests).
func New(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// A nil pointer in an interface is not a nil interface: set these only
	// when given, so the transports see "none configured".
	var verifier transport.Verifier
	var origins transport.OriginChecker
	if c.Verifier != nil {
		verifier = c.Verifier
	}
	if c.Origins != nil {
		origins = c.Origins
	}
	// One poller for every transport's idle connections.
	poller := netpoll.New(c.Logger)
	pcfg := poll.Config{
		Hub: c.Hub, Verifier: verifier, Origins: origins,
		DefaultTimeout: c.Poll.DefaultTimeout, MaxTimeout: c.Poll.MaxTimeout, Logger: c.Logger,
		Poller: poller,
	}
	ccfg := command.Config{
		Hub: c.Hub, Verifier: verifier, Origins: origins, Logger: c.Logger,
		Limiter: ratelimit.New(c.ClientRequestRate, c.ClientRequestBurst, 0),
	}
	s := &Server{
		cfg: c,
		hub: c.Hub,
		log: c.Logger,
		ws: ws.New(ws.Config{
			Hub: c.Hub, Verifier: verifier, Origins: origins,
			MaxFrameSize: c.WebSocket.MaxFrameSize, ConnectTimeout: c.WebSocket.ConnectTimeout,
			WriteTimeout: c.WebSocket.WriteTimeout, Logger: c.Logger, Poller: poller,
		}),
		sse: sse.New(sse.Config{
			Hub: c.Hub, Verifier: verifier, Origins: origins,
			Retry: c.SSE.Retry, RetryJitter: c.SSE.RetryJitter,
			WriteTimeout: c.SSE.WriteTimeout, Logger: c.Logger, Poller: poller,
		}),
		poll:          poll.New(pcfg),
		origins:       origins,
		clientPublish: command.NewPublish(ccfg),
		presence:      command.NewPresence(ccfg),
		clientHistory: command.NewHistory(ccfg),
		// The unary calls share the HTTP client commands' budget.
		grpc: grpcsvc.New(grpcsvc.Config{
			Hub: c.Hub, Verifier: verifier, Origins: origins, Limiter: ccfg.Limiter,
			WriteTimeout: c.SSE.WriteTimeout, Logger: c.Logger,
		}),
		started: time.Now(),
		maxBody: int64(c.Hub.Config().MaxMessageSize) + bodySlack,
	}
	if c.TLSCertFile != "" || c.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: TLS certificate: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	s.metrics, err = newRegistry(c.Hub, c.KeyStats, c.BrokerUnreadable)
	if err != nil {
		return nil, err
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// routes builds the mux. Paths are registered without a method so that a
// wrong method gets the API's JSON error with an Allow header rather than
// the mux's plain-text one.
func (s *Server) routes() error {
	static, err := fs.Sub(web.Files, "static")
	if err != nil {
		return fmt.Errorf("server: demo pages: %w", err)
	}
	m := http.NewServeMux()
	// The streams bound each of their writes themselves; everything else
	// is read and answered under the HTTP deadlines (s.bound), a long
	// poll's answer included.
	m.Handle(wsPath, allow(s.ws, http.MethodGet))
	// The HTTP transports answer CORS preflights and wrong methods
	// themselves.
	m.Handle("/connection/sse", s.sse)
	m.Handle("/connection/poll", s.bound(s.poll))
	m.Handle("/connection/publish", s.bound(s.clientPublish))
	m.Handle("/connection/presence", s.bound(s.presence))
	m.Handle("/connection/history", s.bound(s.clientHistory))

	m.Handle("/api/publish", s.api(s.servePublish, http.MethodPost))
	m.Handle("/api/broadcast", s.api(s.serveBroadcast, http.MethodPost))
	m.Handle("/api/history", s.api(s.serveHistory, http.MethodGet))
	m.Handle("/api/presence", s.api(s.servePresence, http.MethodGet))
	m.Handle("/api/disconnect", s.api(s.serveDisconnect, http.MethodPost))
	m.Handle("/api/channels", s.api(s.serveChannels, http.MethodGet))
	m.Handle("/api/info", s.api(s.serveInfo, http.MethodGet))
	m.Handle("/api/", s.api(notFound, http.MethodGet, http.MethodPost))

	m.Handle("/healthz", s.bound(allow(http.HandlerFunc(s.healthz), http.MethodGet)))
	m.Handle("/readyz", s.bound(allow(http.HandlerFunc(s.readyz), http.MethodGet)))
	m.Handle("/metrics", s.bound(allow(s.metricsHandler(), http.MethodGet)))
	// gRPC, gRPC-Web and Connect: the streams bound their own writes and
	// a unary call is read and answered under the request's context.
	s.grpcRoutes(m)
	if s.cfg.DebugEndpoints {
		s.debugRoutes(m)
	}
	m.Handle("/", grpcFallback(s.bound(allow(http.FileServerFS(static), http.MethodGet))))
	s.mux = m
	return nil
}

// bound serves h under the HTTP read and write deadlines.
func (s *Server) bound(h http.Handler) http.Handler {
	return transport.Bound(h, s.cfg.HTTP.ReadTimeout, s.cfg.HTTP.WriteTimeout)
}

// Handler returns the server's mux: every endpoint, for http.Server or
// httptest.
func (s *Server) Handler() http.Handler { return s.mux }

// Wait waits, until ctx ends, for what the node's handlers hold outside
// the http.Server that serves Handler — long polls parked or kept between
// polls, event streams, WebSocket connections — and stops the goroutines
// they keep (the long polls' workers). Serve does this itself on shutdown;
// an application that serves Handler with its own http.Server calls it
// after the hub's Shutdown and that server's.
func (s *Server) Wait(ctx context.Context) error {
	return errors.Join(s.sse.Wait(ctx), s.poll.Wait(ctx), s.ws.Wait(ctx))
}

// ListenAndServe listens on Config.Addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := Listen(ctx, s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends, then shuts down in order
// (see the package documentation) and returns. It keeps at most
// Config.MaxOpenConnections open and rides out accept errors (see
// listen.go); it answers plain WebSocket upgrades on the accepted socket and
// hands everything else to net/http (see direct.go). It closes ln. It returns nil
// after a clean shutdown, and an error when the listener failed or the
// shutdown ran out of time. Serve may be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("server: Serve called twice")
	}
	capped := newListener(ln, s.cfg.MaxOpenConnections, s.log)
	var tc *tls.Config
	if s.tls != nil {
		// A copy: http.Server may amend its own while it sets up HTTP/2.
		tc = s.tls.Clone()
	}
	direct := newDirectListener(capped, tc, readHeaderTimeout, s.log, func(nc net.Conn, b []byte) ws.Verdict {
		return s.ws.ServeHead(nc, wsPath, b)
	})
	direct.run()
	ln = direct
	s.log.Info("connection limits", "sessions", s.hub.Config().MaxConnections,
		"open_connections", s.cfg.MaxOpenConnections, "open_files", OpenFileLimit())
	hs := &http.Server{
		Handler:           s.mux,
		Protocols:         protocols(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// The direct listener speaks TLS itself; http.Server is given the
	// config so that it serves HTTP/2 on the connections that chose it,
	// and the state of the HTTP/1.1 ones it reads through the listener.
	hs.TLSConfig = s.tls
	if s.tls != nil {
		hs.ConnContext = connContext
		hs.Handler = withTLSState(s.mux)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	// The dashboard feed publishes while the node serves and stops before
	// the drain, so the last sessions are not sent figures on their way out.
	feedCtx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		if s.cfg.DashboardFeed != "" {
			s.feedDashboard(feedCtx, ln.Addr().String())
		}
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		// The listener failed before anyone asked us to stop. Shut down
		// all the same so no session or goroutine outlives Serve.
		served <- err
		serveErr = fmt.Errorf("server: %w", err)
		s.log.Error("listener failed; shutting down", "err", err)
	}
	stopFeed()
	<-feedDone
	if err := s.shutdown(context.WithoutCancel(ctx), hs, direct, served); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// shutdown stops the node in the one order that loses nothing: stop being
// ready, keep serving for the delay while balancers notice, stop
// accepting, tell every session to reconnect elsewhere, wait for the
// connections to end. served receives http.Server.Serve's result.
func (s *Server) shutdown(ctx context.Context, hs *http.Server, direct *directListener, served <-chan error) error {
	s.draining.Store(true)
	start := time.Now()
	s.log.Info("shutting down", "delay", s.cfg.ShutdownDelay, "drain", s.cfg.ShutdownDrain, "sessions", s.hub.Sessions())
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	s.delay(ctx)

	// http.Server.Shutdown closes the listener at once, then waits for
	// in-flight requests. It does not track hijacked WebSocket connections
	// and SSE streams; those end through the hub below. It runs beside the hub's drain
	// because long-lived HTTP responses end only when their session does.
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Shutdown(ctx) }()
	direct.Close()

	var errs []error
	if err := s.hub.Shutdown(ctx, s.cfg.ShutdownDrain); err != nil {
		errs = append(errs, fmt.Errorf("hub shutdown: %w", err))
	}
	// No connection reaches the WebSocket handler once the listener's
	// goroutines are done and the HTTP server's handlers have returned (a
	// WebSocket upgraded through net/http is counted before its hijack):
	// only then does waiting for the handler's connections see them all.
	if err := direct.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("listener: %w", err))
	}
	if err := s.sse.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sse streams: %w", err))
	}
	if err := s.poll.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("long polls: %w", err))
	}
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		// Out of time: cut what is left rather than hang the process.
		hs.Close()
	}
	if err := s.ws.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("websocket connections: %w", err))
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		// Already reported by Serve when it was the reason to stop.
		s.log.Debug("http serve ended", "err", err)
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		s.log.Error("shutdown incomplete", "err", err, "took", time.Since(start))
		return fmt.Errorf("server: %w", err)
	}
	s.log.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// delay keeps the node serving, not ready, for Config.ShutdownDelay, or
// until ctx ends: a load balancer probing /readyz, or Kubernetes removing
// the pod from its endpoints, stops sending new clients here meanwhile,
// instead of sending them to a listener that is already closed.
func (s *Server) delay(ctx context.Context) {
	d := s.cfg.ShutdownDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	s.log.Info("shutdown delay over; no longer accepting", "delay", d)
}

// healthz answers 200 for as long as the process serves HTTP: liveness.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	transport.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 while the node accepts clients and 503 from the moment
// shutdown begins, so a load balancer stops sending new clients here while
// the drain moves the existing ones.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	status, err := s.ready()
	if err != nil {
		transport.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": status, "error": err.Error()})
		return
	}
	if status != "ready" {
		transport.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": status})
		return
	}
	transport.WriteJSON(w, http.StatusOK, map[string]string{"status": status})
}

// ready says whether the node accepts clients, for /readyz and the gRPC
// health service: "ready", or why not with a nil error when there is no
// more to say ("shutting down") or the broker's error.
func (s *Server) ready() (string, error) {
	if s.draining.Load() {
		return "shutting down", errShuttingDown
	}
	if h := s.cfg.BrokerHealth; h != nil {
		if err := h(); err != nil {
			return "broker unavailable", err
		}
	}
	return "ready", nil
}

// errShuttingDown is why a draining node is not ready.
var errShuttingDown = errors.New("shutting down")
