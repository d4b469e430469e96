package command

import (
	"log/slog"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/ratelimit"
	"github.com/switchboardhq/switchboard/transport"
)

// Config configures a Handler; one value usually serves all three. Its zero
// value works once Hub is set.
type Config struct {
	// Hub is the node publishes go to and presence and history are read
	// from. Required.
	Hub *hub.Hub
	// Verifier checks tokens. Nil: any token is refused and only anonymous
	// clients are served.
	Verifier transport.Verifier
	// Origins decides which browser origins may call the endpoints. Nil:
	// same-origin only (plus clients that send no Origin, i.e. not
	// browsers).
	Origins transport.OriginChecker
	// TokenCookie is the cookie a token is read from when the request has
	// no Authorization header and no token parameter. Default:
	// transport.DefaultTokenCookie.
	TokenCookie string
	// Limiter is the per-client request budget the three endpoints share
	// (see [Handler.ServeHTTP] for what a client is). Nil: no limit, for
	// tests and embedders that limit in front of the node; package server
	// always sets one.
	Limiter *ratelimit.Limiter
	// Logger receives the handlers' logs. Default slog.Default().
	Logger *slog.Logger
}
