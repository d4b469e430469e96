package ws

import (
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/transport"
)

// Config configures a Handler. Its zero value works once Hub is set.
type Config struct {
	// Hub is the node the connections join. Required.
	Hub *hub.Hub
	// Verifier checks tokens sent in connect. Nil: any token is refused
	// and only anonymous clients connect.
	Verifier transport.Verifier
	// Origins decides which Origin headers may upgrade. Nil: same-origin
	// only (plus clients that send no Origin, i.e. not browsers).
	Origins transport.OriginChecker
	// MaxFrameSize is the largest frame accepted from a client. Default:
	// the hub's MaxMessageSize plus 4 KiB for the command around it.
	MaxFrameSize int
	// ConnectTimeout is how long a client has to send connect. Default 10s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to a client. Default 10s.
	WriteTimeout time.Duration
	// Logger receives the handler's logs. Default slog.Default().
	Logger *slog.Logger
	// Poller is where idle connections wait (internal/netpoll), shared
	// with the node's other transports so the process has one epoll
	// goroutine. Nil: a poller of the handler's own.
	Poller *netpoll.Poller
}
