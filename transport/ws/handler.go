package ws

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboardhq/switchboard/transport"
)

// Handler upgrades requests to WebSocket connections bound to hub sessions.
// It is safe for concurrent use.
type Handler struct {
	cfg      Config
	maxFrame int
	wg       sync.WaitGroup
	writers  sync.Pool // *writeState
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
	h := &Handler{cfg: cfg, maxFrame: cfg.MaxFrameSize}
	h.writers.New = func() any { return new(writeState) }
	return h
}

// ServeHTTP checks the origin, upgrades, and hands the connection to its own
// reader and writer goroutines, so the HTTP server's goroutine (and its
// buffers) are released at once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := transport.CheckOrigin(h.cfg.Origins, r); err != nil {
		transport.WriteError(w, err)
		return
	}
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		// The upgrader has already answered with a 4xx.
		return
	}
	var pre []byte
	if rw != nil && rw.Reader.Buffered() > 0 {
		pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		pre = append([]byte(nil), pre...)
	}
	c := &conn{h: h, nc: nc, pre: pre}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		c.serve()
	}()
}

// Wait blocks until every connection this handler started has ended, or ctx
// ends. Connections end when their sessions do (hub.Shutdown ends them all).
func (h *Handler) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
