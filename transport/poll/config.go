package poll

import (
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/transport"
)

// Config configures a Handler. Its zero value works once Hub is set.
type Config struct {
	// Hub is the node polls subscribe on. Required.
	Hub *hub.Hub
	// Verifier checks tokens. Nil: any token is refused and only anonymous
	// clients are served.
	Verifier transport.Verifier
	// Origins decides which browser origins may poll. Nil:
	// same-origin only (plus clients that send no Origin, i.e. not
	// browsers).
	Origins transport.OriginChecker
	// TokenCookie is the cookie a token is read from when the request has
	// no Authorization header and no token parameter. Default:
	// transport.DefaultTokenCookie.
	TokenCookie string
	// DefaultTimeout is how long a poll without a timeout parameter holds
	// when it has nothing to answer. Default 25s, kept under the 30s after
	// which many proxies give up on a quiet request; capped at MaxTimeout.
	DefaultTimeout time.Duration
	// MaxTimeout is the longest hold a client may ask for; a larger
	// timeout is refused with code 107. Default 60s. The http.Server must
	// have no WriteTimeout, or one longer than this.
	MaxTimeout time.Duration
	// Logger receives the handlers' logs. Default slog.Default().
	Logger *slog.Logger
	// Poller is where idle connections wait (internal/netpoll), shared
	// with the node's other transports so the process has one epoll
	// goroutine. Nil: a poller of the handler's own.
	Poller *netpoll.Poller
}

const (
	defaultTimeout    = 25 * time.Second
	defaultMaxTimeout = 60 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Hub == nil {
		panic("poll.New: Config.Hub is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = defaultMaxTimeout
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = defaultTimeout
	}
	c.DefaultTimeout = min(c.DefaultTimeout, c.MaxTimeout)
	return c
}
