package protocol_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

func TestErrorForSentinels(t *testing.T) {
	tests := []struct {
		err    error
		code   uint32
		status int
	}{
		{stream.ErrInternal, 100, 500},
		{stream.ErrUnauthorized, 101, 401},
		{stream.ErrInvalidToken, 101, 401},
		{stream.ErrUnknownChannel, 102, 404},
		{stream.ErrPermissionDenied, 103, 403},
		{stream.ErrUnknownCommand, 104, 400},
		{stream.ErrAlreadySubscribed, 105, 409},
		{stream.ErrLimitExceeded, 106, 403},
		{stream.ErrBadRequest, 107, 400},
		{stream.ErrFeatureOff, 108, 404},
		{stream.ErrTokenExpired, 109, 401},
		{stream.ErrTooManyRequests, 110, 429},
		{stream.ErrInvalidChannel, 111, 400},
		{stream.ErrMessageTooLarge, 112, 413},
		{stream.ErrNotSubscribed, 113, 409},
		{stream.ErrBadCursor, 114, 400},
		{stream.ErrNotConnected, 115, 400},
		{stream.ErrClosed, 115, 400},
		{stream.ErrOriginNotAllowed, 116, 403},
		{stream.ErrUnavailable, 117, 503},
		{stream.ErrShutdown, 117, 503},
		{stream.ErrConnectionLimit, 118, 503},
	}
	for _, tt := range tests {
		e := protocol.ErrorFor(tt.err)
		if e.Code != tt.code || e.HTTPStatus() != tt.status {
			t.Errorf("ErrorFor(%v) = %d (HTTP %d), want %d (HTTP %d)", tt.err, e.Code, e.HTTPStatus(), tt.code, tt.status)
		}
		// Wrapped the way the hub wraps, the code stays and the message
		// carries the detail.
		wrapped := fmt.Errorf("subscribe %q: %w", "chat:x", tt.err)
		if got := protocol.ErrorFor(wrapped); got.Code != tt.code {
			t.Errorf("ErrorFor(%v).Code = %d, want %d", wrapped, got.Code, tt.code)
		}
	}
}

func TestErrorForMessage(t *testing.T) {
	err := fmt.Errorf("subscribe %q: %w", "chat:a!", fmt.Errorf("%w: byte '!' at 6", stream.ErrInvalidChannel))
	if got, want := protocol.ErrorFor(err).Message, err.Error(); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestErrorForHidesInternals(t *testing.T) {
	tests := []struct {
		err  error
		want protocol.Error
	}{
		{errors.New("dial tcp 10.0.0.7:6379: connection refused"), protocol.Error{Code: 100, Message: "internal error"}},
		{fmt.Errorf("%w: redis at 10.0.0.7", stream.ErrInternal), protocol.Error{Code: 100, Message: "internal error"}},
		{fmt.Errorf("%w: redis at 10.0.0.7", stream.ErrUnavailable), protocol.Error{Code: 117, Message: "service unavailable"}},
		{stream.ErrShutdown, protocol.Error{Code: 117, Message: "service unavailable"}},
	}
	for _, tt := range tests {
		if got := protocol.ErrorFor(tt.err); got != tt.want {
			t.Errorf("ErrorFor(%v) = %+v, want %+v", tt.err, got, tt.want)
		}
	}
}

func TestErrorForPrecedence(t *testing.T) {
	// One error may wrap several sentinels; the specific one decides.
	tests := []struct {
		err  error
		code uint32
	}{
		{fmt.Errorf("%w: %w", stream.ErrUnauthorized, stream.ErrTokenExpired), 109},
		{fmt.Errorf("%w: %w", stream.ErrBadRequest, stream.ErrInvalidChannel), 111},
		{fmt.Errorf("%w: %w", stream.ErrBadRequest, stream.ErrBadCursor), 114},
		{fmt.Errorf("%w: %w", stream.ErrLimitExceeded, stream.ErrMessageTooLarge), 112},
		{fmt.Errorf("%w: %w", stream.ErrUnavailable, stream.ErrConnectionLimit), 118},
		{errors.Join(stream.ErrInternal, stream.ErrPermissionDenied), 103},
	}
	for _, tt := range tests {
		if got := protocol.ErrorFor(tt.err).Code; got != tt.code {
			t.Errorf("ErrorFor(%v).Code = %d, want %d", tt.err, got, tt.code)
		}
	}
}

func TestErrorForNilAndPassThrough(t *testing.T) {
	if got := protocol.ErrorFor(nil); got != (protocol.Error{}) {
		t.Errorf("ErrorFor(nil) = %+v, want the zero Error", got)
	}
	e := protocol.Error{Code: 110, Message: "slow down"}
	if got := protocol.ErrorFor(fmt.Errorf("publish: %w", e)); got != e {
		t.Errorf("ErrorFor(wrapped Error) = %+v, want %+v", got, e)
	}
}

func TestErrorForClipsLongMessages(t *testing.T) {
	long := strings.Repeat("é", 2000)
	e := protocol.ErrorFor(fmt.Errorf("subscribe %q: %w", long, stream.ErrPermissionDenied))
	if len(e.Message) > 520 || !utf8.ValidString(e.Message) {
		t.Errorf("message of %d bytes (valid UTF-8: %v), want at most ~512 and valid", len(e.Message), utf8.ValidString(e.Message))
	}
}

func TestErrorUnwrap(t *testing.T) {
	// An Error read off the wire answers errors.Is like the error that
	// produced it.
	for _, s := range []error{stream.ErrTokenExpired, stream.ErrPermissionDenied, stream.ErrInternal} {
		e := protocol.ErrorFor(s)
		if !errors.Is(e, s) {
			t.Errorf("errors.Is(%+v, %v) = false", e, s)
		}
	}
	if err := (protocol.Error{Code: 999}).Unwrap(); err != nil {
		t.Errorf("unknown code unwraps to %v, want nil", err)
	}
	if got := (protocol.Error{Code: 999}).HTTPStatus(); got != 500 {
		t.Errorf("unknown code HTTP status %d, want 500", got)
	}
	if got := (protocol.Error{Code: 103, Message: "permission denied"}).Error(); got != "permission denied (code 103)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestCodes(t *testing.T) {
	codes := protocol.Codes()
	if len(codes) != 19 {
		t.Fatalf("%d codes, want 19", len(codes))
	}
	for i, e := range codes {
		if e.Code != uint32(100+i) {
			t.Errorf("codes[%d].Code = %d, want %d", i, e.Code, 100+i)
		}
		if e.Message == "" {
			t.Errorf("code %d has no name", e.Code)
		}
		// The table and the mapping agree: the code's own sentinel maps back
		// to it.
		if got := protocol.ErrorFor(e.Unwrap()).Code; got != e.Code {
			t.Errorf("ErrorFor(sentinel of %d).Code = %d", e.Code, got)
		}
	}
}

func TestDisconnectFor(t *testing.T) {
	tests := []struct {
		err    error
		code   uint32
		reason string
	}{
		{nil, 3000, "normal"},
		{stream.ErrClosed, 3000, "normal"},
		{stream.ErrShutdown, 3001, "shutdown"},
		{stream.ErrSlowConsumer, 3002, "slow"},
		{stream.ErrNoPong, 3003, "no pong"},
		{stream.ErrInternal, 3004, "server error"},
		{stream.ErrUnavailable, 3004, "server error"},
		{errors.New("something else"), 3004, "server error"},
		{stream.ErrTokenExpired, 3005, "token expired"},
		{stream.ErrConnectionLimit, 3006, "connection limit"},
		{stream.ErrStaleState, 3007, "insufficient state"},
		{stream.ErrInvalidToken, 3500, "invalid token"},
		{stream.ErrUnauthorized, 3500, "invalid token"},
		{stream.ErrBadRequest, 3501, "bad request"},
		{stream.ErrUnknownCommand, 3501, "bad request"},
		{stream.ErrNotConnected, 3501, "bad request"},
		{stream.ErrForceDisconnect, 3502, "disconnected"},
		{stream.ErrMessageTooLarge, 3503, "message too large"},
		{stream.ErrOriginNotAllowed, 3504, "forbidden"},
		{stream.ErrPermissionDenied, 3504, "forbidden"},
		// Specific reasons win over what they are wrapped in.
		{fmt.Errorf("%w: %w", stream.ErrUnauthorized, stream.ErrTokenExpired), 3005, "token expired"},
		{fmt.Errorf("%w: %w", stream.ErrClosed, stream.ErrSlowConsumer), 3002, "slow"},
		{fmt.Errorf("session 7: %w", stream.ErrShutdown), 3001, "shutdown"},
	}
	for _, tt := range tests {
		d := protocol.DisconnectFor(tt.err)
		want := protocol.Disconnect{Code: tt.code, Reason: tt.reason, Reconnect: tt.code < 3500}
		if d != want {
			t.Errorf("DisconnectFor(%v) = %+v, want %+v", tt.err, d, want)
		}
	}
	d := protocol.Disconnect{Code: 3999, Reason: "custom"}
	if got := protocol.DisconnectFor(fmt.Errorf("x: %w", d)); got != d {
		t.Errorf("DisconnectFor(wrapped Disconnect) = %+v, want %+v", got, d)
	}
}

func TestDisconnectCodes(t *testing.T) {
	seen := map[uint32]bool{}
	for _, d := range protocol.DisconnectCodes() {
		if seen[d.Code] {
			t.Errorf("code %d listed twice", d.Code)
		}
		seen[d.Code] = true
		if d.Code < 3000 || d.Code > 3999 {
			t.Errorf("code %d outside 3000-3999", d.Code)
		}
		if d.Reconnect != (d.Code < 3500) {
			t.Errorf("code %d: Reconnect = %v, against the 3000-3499 rule", d.Code, d.Reconnect)
		}
		// A WebSocket close frame holds at most 123 bytes of reason.
		if d.Reason == "" || len(d.Reason) > 123 {
			t.Errorf("code %d: reason %q", d.Code, d.Reason)
		}
		if got := protocol.DisconnectFor(d.Unwrap()); got != d {
			t.Errorf("DisconnectFor(sentinel of %d) = %+v", d.Code, got)
		}
		if !errors.Is(d, d.Unwrap()) || !strings.Contains(d.Error(), d.Reason) {
			t.Errorf("code %d: Error() = %q", d.Code, d.Error())
		}
	}
	if len(seen) != 13 {
		t.Errorf("%d disconnect codes, want 13", len(seen))
	}
}

// TestErrorsDocumented keeps docs/errors.md in step with the tables: every
// code has a row of its own.
func TestErrorsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	row := func(code uint32) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf("(?m)^\\| *%d *\\|", code))
	}
	for _, e := range protocol.Codes() {
		if !row(e.Code).MatchString(doc) {
			t.Errorf("docs/errors.md has no row for error code %d (%s)", e.Code, e.Message)
		}
	}
	for _, d := range protocol.DisconnectCodes() {
		if !row(d.Code).MatchString(doc) {
			t.Errorf("docs/errors.md has no row for disconnect code %d (%s)", d.Code, d.Reason)
		}
		if !strings.Contains(doc, "`"+d.Reason+"`") {
			t.Errorf("docs/errors.md does not name the reason %q", d.Reason)
		}
	}
}
