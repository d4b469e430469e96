package ws

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/transport"
)

// Handler upgrades requests to WebSocket connections bound to hub sessions.
// It is safe for concurrent use.
type Handler struct {
	cfg      Config
	maxFrame int
	rate     float64 // frames a second per connection (the hub's CommandRate)
	burst    int     // and at once (CommandBurst)
	wg       sync.WaitGroup
	writers  sync.Pool       // *writeState
	poller   *netpoll.Poller // nil where there is none
	onPark   func()          // tests: called after a connection parks
	onEpoll  func()          // tests: called before a park's epoll_ctl
	onNote   func()          // tests: called when an arrival is noted for a running reader
	onFlush  func()          // tests: called when a flush goroutine starts
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Hub == nil {
		panic("ws: Config.Hub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = cfg.Hub.Config().MaxMessageSize + 4<<10
	}
	hc := cfg.Hub.Config()
	h := &Handler{cfg: cfg, maxFrame: cfg.MaxFrameSize, rate: hc.CommandRate, burst: hc.CommandBurst}
	h.writers.New = func() any { return new(writeState) }
	h.poller = cfg.Poller
	if h.poller == nil {
		h.poller = netpoll.New(cfg.Logger)
	}
	return h
}

// ServeHTTP checks the origin, upgrades, and hands the connection over (to
// the poller while it waits for connect and whenever it is idle, to a
// reader goroutine while the client sends), so the HTTP server's goroutine
// (and its buffers) are released at once. It answers what [Handler.ServeHead] declines, with the same
// checks.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := transport.CheckOrigin(h.cfg.Origins, r); err != nil {
		transport.WriteError(w, err)
		return
	}
	// Counted before the hijack: once hijacked, the connection is no
	// longer the HTTP server's, so a shutdown that has waited for the HTTP
	// server and then calls Wait must find it counted here.
	h.wg.Add(1)
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		// The upgrader has already answered with a 4xx.
		h.wg.Done()
		return
	}
	var pre []byte
	if rw != nil && rw.Reader.Buffered() > 0 {
		pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		pre = append([]byte(nil), pre...)
	}
	h.start(nc, pre, nil)
}

// start serves an upgraded connection, already counted in wg; pre holds
// what the client sent past the request head, and head the 101 when it is
// still to be written (with the first reply: see conn.head).
func (h *Handler) start(nc net.Conn, pre, head []byte) {
	// The socket may carry a write deadline from before the upgrade (the
	// listener's for the request head, net/http's): deadline 1 says one of
	// unknown age is set, so the first write replaces it (a blocking one)
	// or lifts it (a direct one) rather than writing under it.
	c := &conn{h: h, nc: nc, pre: pre, head: head, deadline: 1}
	if tc, ok := nc.(syscall.Conn); ok && h.poller != nil {
		// TLS and other wrapped connections keep a reader goroutine: their
		// own buffering hides what the socket's readiness says. A socket
		// that only counts itself (the server's listener) shows its own.
		c.pn.Raw, _ = tc.SyscallConn()
		c.pn.Ready = c.resume
	}
	if c.pn.Raw != nil && len(pre) == 0 && head == nil {
		// The client waits for the 101 before it sends connect, as
		// browsers do: wait for that in the poller, with no goroutine,
		// rather than in a read that would find nothing yet. The read
		// deadline bounds the handshake as it does a reader's; the
		// timer wakes the connection to find it passed.
		c.early = true
		_ = nc.SetReadDeadline(time.Now().Add(h.cfg.ConnectTimeout))
		c.connectBy = time.AfterFunc(h.cfg.ConnectTimeout, c.resume)
		if c.park() == parked {
			return
		}
	}
	go c.serve()
}

// Wait blocks until every connection this handler started has ended, or ctx
// ends. Connections end when their sessions do (hub.Shutdown ends them all).
// The WaitGroup counts connections, not goroutines: a parked connection
// has none; the connection's last reader calls Done. The poller's goroutine
// ends with the last connection, and Wait waits for it too. A connection
// is counted before its upgrade is answered, so Wait must be called once no
// upgrade can be in progress: after the HTTP server's Shutdown, and after
// whatever calls ServeHead has stopped.
func (h *Handler) Wait(ctx context.Context) error {
	if err := transport.Wait(ctx, &h.wg); err != nil {
		return err
	}
	// The last connection's Forget has woken the poller's goroutine, which
	// ends at once.
	h.poller.Wait()
	return nil
}
