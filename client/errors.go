package client

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Sentinel errors. Errors from the node itself are protocol.Error (one code
// per failure, see the node's docs/errors.md) or protocol.Disconnect; both
// unwrap to the stream sentinel of their code, so callers branch with
// errors.Is(err, stream.ErrPermissionDenied) and the like.
var (
	// ErrClosed is returned once Run has returned: the client is done.
	ErrClosed = errors.New("client: closed")
	// ErrUnsubscribed is returned by Subscription.Next after it has
	// returned the subscription's Unsubscribed event.
	ErrUnsubscribed = errors.New("client: unsubscribed")
	// ErrNotSupported is returned when the client is connected over a
	// transport that cannot carry what was asked.
	ErrNotSupported = errors.New("not available on this transport")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("client: Run called twice")
)

// errConnLost is a command that was sent but whose connection ended before
// the reply came. Publish and History retry it.
var errConnLost = errors.New("connection lost")

// httpStatusError is an HTTP answer without Switchboard's coded error body:
// a proxy, a load balancer, or something that is not a node at all.
type httpStatusError struct {
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.status, http.StatusText(e.status), e.body)
}

// failure says what a failed connection attempt, or the end of one, asks
// the client to do next.
type failure int

const (
	// failTransport: the transport did not work (refused upgrade, proxy
	// error, no first frame in time, network error). Try the next one.
	failTransport failure = iota
	// failRetry: the node answered but cannot serve now (shutting down,
	// full, overloaded). Back off and come back on the same transport.
	failRetry
	// failToken: the token expired. Get a fresh one and come back.
	failToken
	// failStop: the node said not to come back (invalid token, forced
	// disconnect, forbidden origin). Run returns.
	failStop
)

func classify(err error) failure {
	if _, ok := errors.AsType[*tokenError](err); ok {
		return failRetry
	}
	if d, ok := errors.AsType[protocol.Disconnect](err); ok {
		switch {
		case d.Code == 3005:
			return failToken
		case !d.Reconnect:
			return failStop
		}
		return failRetry
	}
	if e, ok := errors.AsType[protocol.Error](err); ok {
		switch e.Code {
		case 109:
			return failToken
		case 101, 116:
			return failStop
		}
		return failRetry
	}
	if errors.Is(err, stream.ErrTokenExpired) {
		return failToken
	}
	return failTransport
}

// channelRefused reports whether a node's error is about one channel (its
// name, its namespace, the client's right to it) rather than the
// connection: that channel's subscription ends, the others go on.
func channelRefused(err error) bool {
	e, ok := errors.AsType[protocol.Error](err)
	if !ok {
		return false
	}
	switch e.Code {
	case 102, 103, 108, 111:
		return true
	}
	return false
}

// retryable reports whether Publish or History may send the same request
// again: the failure is about delivery or load, not about the request.
func retryable(err error) bool {
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotSupported) || errors.Is(err, stream.ErrBadRequest) {
		return false
	}
	if e, ok := errors.AsType[protocol.Error](err); ok {
		switch e.Code {
		case 100, 109, 110, 115, 117, 118:
			return true
		}
		return false
	}
	if _, ok := errors.AsType[protocol.Disconnect](err); ok {
		return true
	}
	// Network errors, timeouts of one attempt, proxies answering for the
	// node, a connection lost under a command.
	return true
}
