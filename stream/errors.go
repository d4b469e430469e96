package stream

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; package protocol
// maps each to one wire code, in one place.
var (
	ErrInternal          = errors.New("internal error")
	ErrUnauthorized      = errors.New("unauthorized")
	ErrPermissionDenied  = errors.New("permission denied")
	ErrUnknownCommand    = errors.New("unknown command")
	ErrAlreadySubscribed = errors.New("already subscribed")
	ErrNotSubscribed     = errors.New("not subscribed")
	ErrLimitExceeded     = errors.New("limit exceeded")
	ErrBadRequest        = errors.New("bad request")
	ErrNotAvailable      = errors.New("not available")
	ErrTokenExpired      = errors.New("token expired")
	ErrTooManyRequests   = errors.New("too many requests")
	ErrInvalidChannel    = errors.New("invalid channel name")
	ErrMessageTooLarge   = errors.New("message too large")
	ErrBadCursor         = errors.New("bad cursor")
	ErrNotConnected      = errors.New("not connected")
	ErrOriginNotAllowed  = errors.New("origin not allowed")
	ErrUnavailable       = errors.New("service unavailable")
	ErrUnknownChannel    = errors.New("unknown channel")

	// Reasons a session ends. Each maps to a disconnect code that tells the
	// client whether to reconnect.
	ErrShutdown        = errors.New("shutdown")
	ErrSlowConsumer    = errors.New("slow consumer")
	ErrNoPong          = errors.New("no pong")
	ErrInvalidToken    = errors.New("invalid token")
	ErrForceDisconnect = errors.New("disconnected by the server")
	ErrClosed          = errors.New("connection closed")
	ErrConnectionLimit = errors.New("connection limit reached")
	ErrStaleState      = errors.New("insufficient state")
)
