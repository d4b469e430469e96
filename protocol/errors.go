package protocol

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/stream"
)

// Error is an error as clients see it, on every transport and the HTTP API:
// a code from the table in docs/errors.md and a human-readable message.
// Clients branch on Code; Message is for people and may change.
type Error struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

func (e Error) Error() string {
	msg := e.Message
	if c, ok := codeOf(e.Code); ok && msg == "" {
		msg = c.sentinel.Error()
	}
	return msg + " (code " + strconv.FormatUint(uint64(e.Code), 10) + ")"
}

// Unwrap returns the stream sentinel of e's code, so that a client holding an
// Error that came off the wire can test it with errors.Is just as the server
// did before sending it.
func (e Error) Unwrap() error {
	if c, ok := codeOf(e.Code); ok {
		return c.sentinel
	}
	return nil
}

// HTTPStatus is the status the HTTP API and the HTTP transports answer with
// when they refuse a request with e. Unknown codes are 500.
func (e Error) HTTPStatus() int {
	if c, ok := codeOf(e.Code); ok {
		return c.status
	}
	return 500
}

type errorCode struct {
	code   uint32
	status int
	// sentinel is what Unwrap returns and whose text names the code.
	sentinel error
}

// errorCodes is the table, by code. docs/errors.md documents each row; a test
// keeps the two in step.
var errorCodes = [...]errorCode{
	{100, 500, stream.ErrInternal},
	{101, 401, stream.ErrUnauthorized},
	{102, 404, stream.ErrUnknownChannel},
	{103, 403, stream.ErrPermissionDenied},
	{104, 400, stream.ErrUnknownCommand},
	{105, 409, stream.ErrAlreadySubscribed},
	{106, 403, stream.ErrLimitExceeded},
	{107, 400, stream.ErrBadRequest},
	{108, 404, stream.ErrFeatureOff},
	{109, 401, stream.ErrTokenExpired},
	{110, 429, stream.ErrTooManyRequests},
	{111, 400, stream.ErrInvalidChannel},
	{112, 413, stream.ErrMessageTooLarge},
	{113, 409, stream.ErrNotSubscribed},
	{114, 400, stream.ErrBadCursor},
	{115, 400, stream.ErrNotConnected},
	{116, 403, stream.ErrOriginNotAllowed},
	{117, 503, stream.ErrUnavailable},
	{118, 503, stream.ErrConnectionLimit},
}

const (
	codeInternal    = 100
	codeUnavailable = 117
)

func codeOf(code uint32) (errorCode, bool) {
	if i := int(code) - int(errorCodes[0].code); i >= 0 && i < len(errorCodes) {
		return errorCodes[i], true
	}
	return errorCode{}, false
}

// errorMatch lists the sentinels ErrorFor looks for, most specific first: an
// error may wrap more than one (an expired token is also unauthorized, an
// invalid channel name is also a bad request), and the specific code is the
// one a client can act on.
var errorMatch = [...]struct {
	err  error
	code uint32
}{
	{stream.ErrTokenExpired, 109},
	{stream.ErrInvalidToken, 101},
	{stream.ErrInvalidChannel, 111},
	{stream.ErrBadCursor, 114},
	{stream.ErrMessageTooLarge, 112},
	{stream.ErrConnectionLimit, 118},
	{stream.ErrTooManyRequests, 110},
	{stream.ErrOriginNotAllowed, 116},
	{stream.ErrUnknownChannel, 102},
	{stream.ErrUnknownCommand, 104},
	{stream.ErrAlreadySubscribed, 105},
	{stream.ErrNotSubscribed, 113},
	{stream.ErrFeatureOff, 108},
	{stream.ErrNotConnected, 115},
	// A command that meets a closed session or a node shutting down.
	{stream.ErrClosed, 115},
	{stream.ErrShutdown, codeUnavailable},
	{stream.ErrLimitExceeded, 106},
	{stream.ErrPermissionDenied, 103},
	{stream.ErrUnauthorized, 101},
	{stream.ErrBadRequest, 107},
	{stream.ErrUnavailable, codeUnavailable},
	{stream.ErrInternal, codeInternal},
}

// maxMessageLen caps Error.Message: wrapped errors may quote client input
// (channel names, origins), and a reply should not echo a whole frame back.
const maxMessageLen = 512

// ErrorFor maps an error to its wire form. Errors wrapping a stream sentinel
// get that sentinel's code and err.Error() as the message, which carries the
// wrapped detail; an Error (or an error wrapping one) is returned as it is.
// Anything else is code 100, "internal error": its text may hold internals a
// client must not see. For the same reason codes 100 and 117 never carry the
// wrapped detail, which for them is usually about the server's own backends.
// ErrorFor(nil) is the zero Error.
func ErrorFor(err error) Error {
	if err == nil {
		return Error{}
	}
	if e, ok := errors.AsType[Error](err); ok {
		return e
	}
	for _, m := range errorMatch {
		if !errors.Is(err, m.err) {
			continue
		}
		if m.code == codeInternal || m.code == codeUnavailable {
			c, _ := codeOf(m.code)
			return Error{Code: m.code, Message: c.sentinel.Error()}
		}
		return Error{Code: m.code, Message: clip(err.Error(), maxMessageLen)}
	}
	return Error{Code: codeInternal, Message: stream.ErrInternal.Error()}
}

// Codes lists the error table by code; each Error's Message is the code's
// name.
func Codes() []Error {
	out := make([]Error, len(errorCodes))
	for i, c := range errorCodes {
		out[i] = Error{Code: c.code, Message: c.sentinel.Error()}
	}
	return out
}

// Disconnect is why the server ends a session. It is sent as a disconnect
// frame and as the WebSocket close frame's code and reason. Codes 3000–3499
// ask the client to reconnect (and resume); 3500–3999 ask it not to, since
// the same connection would be refused again.
type Disconnect struct {
	Code      uint32 `json:"code"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

func (d Disconnect) Error() string {
	return "disconnected: " + d.Reason + " (code " + strconv.FormatUint(uint64(d.Code), 10) + ")"
}

// Unwrap returns the stream sentinel of d's code, for clients that branch
// with errors.Is.
func (d Disconnect) Unwrap() error {
	for _, c := range disconnectCodes {
		if c.code == d.Code {
			return c.sentinel
		}
	}
	return nil
}

// reconnectBelow splits the disconnect codes: below it, reconnect.
const reconnectBelow = 3500

type disconnectCode struct {
	code     uint32
	reason   string
	sentinel error
}

// disconnectCodes is the table, by code. Reasons are short and fixed: they
// go in a WebSocket close frame, which holds at most 123 bytes.
var disconnectCodes = [...]disconnectCode{
	{3000, "normal", stream.ErrClosed},
	{3001, "shutdown", stream.ErrShutdown},
	{3002, "slow", stream.ErrSlowConsumer},
	{3003, "no pong", stream.ErrNoPong},
	{3004, "server error", stream.ErrInternal},
	{3005, "token expired", stream.ErrTokenExpired},
	{3006, "connection limit", stream.ErrConnectionLimit},
	{3007, "insufficient state", stream.ErrStaleState},
	{3500, "invalid token", stream.ErrInvalidToken},
	{3501, "bad request", stream.ErrBadRequest},
	{3502, "disconnected", stream.ErrForceDisconnect},
	{3503, "message too large", stream.ErrMessageTooLarge},
	{3504, "forbidden", stream.ErrPermissionDenied},
}

// disconnectMatch lists what DisconnectFor looks for, most specific first.
// An expired token must win over unauthorized, since the client can fix it
// by reconnecting with a fresh token; ErrClosed comes last because a session
// closed for a reason usually wraps both.
var disconnectMatch = [...]struct {
	err  error
	code uint32
}{
	{stream.ErrTokenExpired, 3005},
	{stream.ErrInvalidToken, 3500},
	{stream.ErrConnectionLimit, 3006},
	{stream.ErrMessageTooLarge, 3503},
	{stream.ErrOriginNotAllowed, 3504},
	{stream.ErrShutdown, 3001},
	{stream.ErrSlowConsumer, 3002},
	{stream.ErrNoPong, 3003},
	{stream.ErrStaleState, 3007},
	{stream.ErrForceDisconnect, 3502},
	{stream.ErrUnknownCommand, 3501},
	{stream.ErrNotConnected, 3501},
	{stream.ErrUnauthorized, 3500},
	{stream.ErrPermissionDenied, 3504},
	{stream.ErrBadRequest, 3501},
	{stream.ErrUnavailable, 3004},
	{stream.ErrInternal, 3004},
	{stream.ErrClosed, 3000},
}

const disconnectServerError = 3004

// DisconnectFor maps the reason a session ends to its disconnect code.
// Unknown errors are 3004 "server error", which asks the client to come
// back; nil is 3000 "normal". A Disconnect (or an error wrapping one) is
// returned as it is.
func DisconnectFor(err error) Disconnect {
	if err == nil {
		return disconnectOf(3000)
	}
	if d, ok := errors.AsType[Disconnect](err); ok {
		return d
	}
	for _, m := range disconnectMatch {
		if errors.Is(err, m.err) {
			return disconnectOf(m.code)
		}
	}
	return disconnectOf(disconnectServerError)
}

func disconnectOf(code uint32) Disconnect {
	for _, c := range disconnectCodes {
		if c.code == code {
			return Disconnect{Code: c.code, Reason: c.reason, Reconnect: c.code < reconnectBelow}
		}
	}
	return Disconnect{Code: code, Reconnect: code < reconnectBelow}
}

// DisconnectCodes lists the disconnect table by code.
func DisconnectCodes() []Disconnect {
	out := make([]Disconnect, len(disconnectCodes))
	for i, c := range disconnectCodes {
		out[i] = disconnectOf(c.code)
	}
	return out
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
