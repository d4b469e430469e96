package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// transportKind is one way a client follows channels. The behaviour tests
// run once per kind, through a follower of that kind.
type transportKind int

const (
	transportWS transportKind = iota
	transportSSE
	transportLongPoll
	transportPoll
	transportGRPC
)

var allTransports = []transportKind{transportWS, transportSSE, transportLongPoll, transportPoll, transportGRPC}

func (k transportKind) String() string {
	switch k {
	case transportWS:
		return "ws"
	case transportSSE:
		return "sse"
	case transportLongPoll:
		return "longpoll"
	case transportPoll:
		return "poll"
	case transportGRPC:
		return "grpc"
	}
	return fmt.Sprintf("transport(%d)", int(k))
}

// overHTTP reports whether the transport is plain HTTP requests (or a gRPC
// call), whose refusals are HTTP statuses (gRPC statuses) that end the
// connection, rather than error replies on a WebSocket that stays open.
func (k transportKind) overHTTP() bool { return k != transportWS }

// streams reports whether the transport holds one connection open for its
// events (WebSocket, SSE, gRPC), which the node ends with a disconnect and
// whose subscribe answers report the channel's latest position; polls do
// neither.
func (k transportKind) streams() bool {
	return k == transportWS || k == transportSSE || k == transportGRPC
}

// statusIs reports whether a refusal e carries the HTTP status given, or
// over gRPC the gRPC code that goes with it.
func (k transportKind) statusIs(e followEvent, status int) bool {
	if k == transportGRPC {
		return e.grpc == grpcCodeFor(status)
	}
	return e.status == status
}

// follower follows channels over one transport, against real nodes, the way
// a client application would. It reports what the server said as events and
// never interprets them: it drops no duplicate and fills no gap, because
// finding those is what the tests are for.
//
// Each implementation runs one reader goroutine per connection. The reader
// records the position of everything it receives before handing it on, and
// cut waits for it to stop, so the position resume starts from is exactly
// the last one received: events received before a cut are still delivered
// by next, in order, ahead of anything after the resume.
type follower interface {
	// open connects to n and subscribes to spec's channels. It returns
	// once the server has answered the subscriptions, so a publication
	// made afterwards must reach the follower; for polls, whose position
	// lives in the cursor, that holds as soon as the cursor is known.
	// Refusals arrive as events; open fails only when the network does.
	open(ctx context.Context, n *node, spec followSpec) error
	// next returns the next event, waiting until ctx ends.
	next(ctx context.Context) (followEvent, error)
	// cut drops the connection abruptly, as a failing network would: no
	// close handshake, nothing more is read. It is a no-op when there is
	// no connection.
	cut()
	// resume cuts what is left of the connection and reconnects to n (the
	// same node or another), from the last position received on every
	// channel: the WebSocket subscribe's since, SSE's Last-Event-ID, the
	// poll cursor. WebSocket and SSE return once the server has answered,
	// as open does; polls return at once, and their answer comes with the
	// first reply, so a test that needs the subscription in place (to
	// publish after a position was found lost) waits for the answer.
	resume(ctx context.Context, n *node) error
	// close ends everything; the follower is not used afterwards.
	close()
}

// followSpec is what a follower subscribes to.
type followSpec struct {
	channels []string
	// since holds the position to start from per channel; a channel
	// without one starts from now.
	since map[string]stream.Position
	// token is a JWT for the connection; empty: anonymous.
	token string
}

// cursor packs spec's positions as the HTTP transports take them.
func (s followSpec) cursor() string {
	if len(s.since) == 0 {
		return ""
	}
	var c stream.Cursor
	for ch, p := range s.since {
		c.Set(ch, p)
	}
	return c.String()
}

// newFollower returns an unopened follower of kind k, closed at t's end.
func newFollower(t *testing.T, k transportKind) follower {
	t.Helper()
	var f follower
	switch k {
	case transportWS:
		f = &wsFollower{eventQueue: newEventQueue()}
	case transportSSE:
		f = &sseFollower{eventQueue: newEventQueue(), client: newFollowerClient()}
	case transportLongPoll:
		f = &pollFollower{eventQueue: newEventQueue(), client: newFollowerClient(), timeout: longPollTimeout}
	case transportPoll:
		f = &pollFollower{eventQueue: newEventQueue(), client: newFollowerClient()}
	case transportGRPC:
		f = &grpcFollower{eventQueue: newEventQueue()}
	default:
		t.Fatalf("no follower for %v", k)
	}
	t.Cleanup(f.close)
	return f
}

// newFollowerClient gives each follower its own connection pool, so a cut
// can drop idle keep-alive connections too, and no follower reuses
// another's.
func newFollowerClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// eventKind says what a followEvent reports.
type eventKind int

const (
	// evSubscribed: the server answered a subscription (a WebSocket
	// subscribe reply, the channel's entry in SSE's connected event, a
	// poll reply). recovered is the server's word on the position given;
	// a poll reply after the first reports only channels listed in gaps.
	evSubscribed eventKind = iota + 1
	// evPublication: a publication, in pub.
	evPublication
	// evError: the server refused something with a coded error: a
	// WebSocket error reply (the connection stays), an HTTP error status
	// with a coded body or a gRPC status with a coded detail (the
	// connection is over: evEnd follows).
	evError
	// evDisconnect: the server ended the session and said why (WebSocket
	// disconnect frame, SSE disconnect event, gRPC Disconnect event).
	evDisconnect
	// evEnd: the connection is over without a cut: the server closed it,
	// a request was refused, or the network failed (err).
	evEnd
	// evOther: anything else the server sent, verbatim in raw.
	evOther
)

// followEvent is one thing a follower heard from the server.
type followEvent struct {
	kind    eventKind
	channel string // evSubscribed; evError for a WebSocket subscribe
	// recovered and latest belong to evSubscribed. latest is the channel's
	// newest position as WebSocket and SSE report it; polls leave it zero.
	recovered bool
	latest    stream.Position
	pub       *stream.Publication // evPublication
	code      uint32              // evError, evDisconnect; evEnd: the WebSocket close code, the gRPC status's project code
	status    int                 // evError over HTTP
	grpc      codes.Code          // evError, evEnd over gRPC: the status's code
	reason    string              // evDisconnect, evError's message
	reconnect bool                // evDisconnect
	err       error               // evEnd
	raw       string              // evOther
}

func (e followEvent) String() string {
	switch e.kind {
	case evSubscribed:
		return fmt.Sprintf("subscribed %s recovered=%t latest=%s/%d", e.channel, e.recovered, e.latest.Epoch, e.latest.Offset)
	case evPublication:
		return fmt.Sprintf("publication %s %s/%d %s", e.pub.Channel, e.pub.Epoch, e.pub.Offset, e.pub.Data)
	case evError:
		return fmt.Sprintf("error %d (status %d, gRPC %v, channel %q): %s", e.code, e.status, e.grpc, e.channel, e.reason)
	case evDisconnect:
		return fmt.Sprintf("disconnect %d %q reconnect=%t", e.code, e.reason, e.reconnect)
	case evEnd:
		return fmt.Sprintf("end (code %d, err %v)", e.code, e.err)
	case evOther:
		return "other: " + e.raw
	}
	return fmt.Sprintf("event(%d)", int(e.kind))
}

// eventQueue is a follower's unbounded event queue: a reader never blocks
// on a test that is not reading, so a cut never waits on the test either.
type eventQueue struct {
	mu   sync.Mutex
	q    []followEvent
	wake chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{wake: make(chan struct{}, 1)} }

func (e *eventQueue) push(evs ...followEvent) {
	e.mu.Lock()
	e.q = append(e.q, evs...)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) next(ctx context.Context) (followEvent, error) {
	for {
		e.mu.Lock()
		if len(e.q) > 0 {
			ev := e.q[0]
			e.q[0] = followEvent{}
			e.q = e.q[1:]
			e.mu.Unlock()
			return ev, nil
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-ctx.Done():
			return followEvent{}, ctx.Err()
		}
	}
}

// connReader is one connection's reader goroutine, as its follower sees it.
type connReader struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// stop cancels the reader and waits for it, so that what it recorded is
// final. The zero connReader is stopped already.
func (r *connReader) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	*r = connReader{}
}

// codedErrorEvent reads a coded HTTP error body, keeping the text when it is
// not one so the test can show it.
func codedErrorEvent(status int, body []byte) followEvent {
	e := followEvent{kind: evError, status: status, reason: strings.TrimSpace(string(body))}
	if f, err := protocol.DecodeFrame(body); err == nil && f.Error != nil {
		e.code, e.reason = f.Error.Code, f.Error.Message
	}
	return e
}
