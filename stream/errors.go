package stream

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; package protocol
// maps each to one wire code (docs/errors.md), in one place. Errors that
// carry detail wrap one of these, with the operation and the channel.

// ErrInternal is a failure inside the server (code 100). Its detail is
// logged, never sent: clients see "internal error" only.
var ErrInternal = errors.New("internal error")

// ErrUnauthorized is a request that needs a valid token or API key and had
// none, or one that was refused (code 101).
var ErrUnauthorized = errors.New("unauthorized")

// ErrPermissionDenied is an action the client's identity may not take on
// the channel, by the namespace's rules (code 103; disconnect 3504 when it
// ends a connection).
var ErrPermissionDenied = errors.New("permission denied")

// ErrUnknownCommand is a WebSocket command whose type the node does not
// know (code 104).
var ErrUnknownCommand = errors.New("unknown command")

// ErrAlreadySubscribed is a subscribe to a channel the session is already
// subscribed to (code 105).
var ErrAlreadySubscribed = errors.New("already subscribed")

// ErrNotSubscribed is an unsubscribe from a channel the session is not
// subscribed to (code 113).
var ErrNotSubscribed = errors.New("not subscribed")

// ErrLimitExceeded is a per-connection limit reached, such as the number of
// channels one session may subscribe to (code 106).
var ErrLimitExceeded = errors.New("limit exceeded")

// ErrBadRequest is a frame or request that cannot be read or breaks the
// protocol: malformed JSON, a missing field, data that is not one JSON value
// (code 107).
var ErrBadRequest = errors.New("bad request")

// ErrFeatureOff is a request for a feature that is off for the channel or
// on this node, such as presence in a namespace without presence, or on a
// node that keeps none (code 108, HTTP 404). Asking again will not help.
// It is not ErrUnavailable, which is a node that cannot serve right now.
var ErrFeatureOff = errors.New("not available")

// ErrTokenExpired is a token past its expiry (code 109; disconnect 3005,
// after which the client reconnects with a fresh token).
var ErrTokenExpired = errors.New("token expired")

// ErrTooManyRequests is a session sending commands faster than its rate
// allows (code 110).
var ErrTooManyRequests = errors.New("too many requests")

// ErrInvalidChannel is a channel name that breaks the naming rules; see
// ValidateChannel (code 111).
var ErrInvalidChannel = errors.New("invalid channel name")

// ErrMessageTooLarge is a publication or frame over the size limit
// (code 112; disconnect 3503).
var ErrMessageTooLarge = errors.New("message too large")

// ErrBadCursor is a cursor the node cannot read: truncated, altered or from
// an incompatible version (code 114).
var ErrBadCursor = errors.New("bad cursor")

// ErrNotConnected is a WebSocket command sent before connect, or after the
// connection closed (code 115).
var ErrNotConnected = errors.New("not connected")

// ErrOriginNotAllowed is a browser request from an Origin the node's
// allow-list does not hold (code 116).
var ErrOriginNotAllowed = errors.New("origin not allowed")

// ErrUnavailable is a node that cannot serve the request right now, because
// it is shutting down or a backend such as Redis is unreachable (code 117,
// HTTP 503). Retrying later, or on another node, may succeed. It is not
// ErrFeatureOff, which is a feature that is off.
var ErrUnavailable = errors.New("service unavailable")

// ErrUnknownChannel is a channel whose namespace is not configured
// (code 102).
var ErrUnknownChannel = errors.New("unknown channel")

// Reasons a session ends. Each maps to a disconnect code that tells the
// client whether to reconnect.

// ErrShutdown ends sessions when the node shuts down, and refuses new ones
// from then on (disconnect 3001: reconnect, to another node if there is
// one).
var ErrShutdown = errors.New("shutdown")

// ErrSlowConsumer ends a session whose queue grew past its limit because
// the client did not read fast enough (disconnect 3002: reconnect and
// resume).
var ErrSlowConsumer = errors.New("slow consumer")

// ErrNoPong ends a session that did not answer a ping before the next was
// due (disconnect 3003).
var ErrNoPong = errors.New("no pong")

// ErrInvalidToken is a token that is invalid or was revoked, issued before
// its user was disconnected everywhere (disconnect 3500: do not reconnect
// with it).
var ErrInvalidToken = errors.New("invalid token")

// ErrForceDisconnect ends the sessions the application disconnected
// (disconnect 3502: do not reconnect).
var ErrForceDisconnect = errors.New("disconnected by the server")

// ErrClosed is a session that ended normally, or a command that met a
// session already closed (disconnect 3000).
var ErrClosed = errors.New("connection closed")

// ErrConnectionLimit refuses a session when the node holds as many as it is
// configured for (code 118, disconnect 3006: back off and retry).
var ErrConnectionLimit = errors.New("connection limit reached")

// ErrStaleState ends a session whose node lost the state it needs to keep
// the session consistent (disconnect 3007: reconnect and resume).
var ErrStaleState = errors.New("insufficient state")
