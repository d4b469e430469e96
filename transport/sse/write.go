package sse

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// maxKeptBuffer is the largest write buffer a stream keeps between writes: a
// burst must not pin its memory for the rest of a long-lived connection.
const maxKeptBuffer = 64 << 10

// maxChunk is the most bytes one write carries, cut after a whole event.
// Between writes the stream checks whether the hub ended the session, so a
// client too slow for its queue is told at the next event boundary rather
// than after its whole backlog.
const maxChunk = 64 << 10

// eventStream is one open SSE response. Only the request's goroutine touches
// it.
type eventStream struct {
	h    *Handler
	sess *hub.Session
	w    http.ResponseWriter
	rc   *http.ResponseController

	// cursor holds every channel's position after the last event written;
	// each publication's id is its text.
	cursor stream.Cursor
	// buf is the next write; it starts with the retry and connected events.
	buf   []byte
	spare []hub.Item

	// A stream that left net/http (see hijack) writes to nc itself, in
	// chunks when the response is chunked; pn parks the socket in the
	// poller. wmu guards writing (a writer goroutine runs), live (the
	// stream may start one) and over (the connection is released); stuck
	// is the writer's: a write failed.
	nc      net.Conn
	raw     syscall.RawConn // nil: no direct writes (see Claim)
	chunked bool
	pn      netpoll.Handle
	// rest is what a direct write left unwritten; deadline says a write
	// deadline is set. Both are the writer's.
	rest     net.Buffers
	deadline bool
	wmu      sync.Mutex
	writing  bool
	live     bool
	over     bool
	stuck    bool
}

// start writes the response headers. The body follows with the first flush.
func (es *eventStream) start(w http.ResponseWriter, r *http.Request) {
	es.w = w
	es.rc = http.NewResponseController(w)
	writeStreamHeaders(w, r)
}

// writeStreamHeaders starts an event stream response.
func writeStreamHeaders(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	// nginx buffers proxied responses unless told not to.
	hd.Set("X-Accel-Buffering", "no")
	// HTTP/2 forbids connection-specific headers; HTTP/1.0 has no
	// keep-alive for a response without a length.
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		hd.Set("Connection", "keep-alive")
	}
	w.WriteHeader(http.StatusOK)
}

// run writes until the client goes away or the hub ends the session.
func (es *eventStream) run(ctx context.Context) {
	if err := es.flush(); err != nil {
		es.fail(err)
		return
	}
	for {
		// An ended session goes first: a slow client's backlog is what it
		// could not take, and it is told so before anything more.
		if es.ended() {
			es.end()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-es.sess.Ready():
			// Let whatever is runnable go first, as the WebSocket writer
			// does: a publication being fanned out now joins this
			// stream's queue before it is taken, so one write and one
			// flush carry more of them. On a quiet node it returns at
			// once.
			runtime.Gosched()
			if err := es.flush(); err != nil {
				es.fail(err)
				return
			}
		case <-es.sess.Done():
			es.end()
			return
		}
	}
}

// flush writes everything queued, after whatever buf already holds, in
// writes of about maxChunk cut at event boundaries. A session the hub ended
// as slow meanwhile stops the flush at the boundary; run then writes the
// disconnect event.
func (es *eventStream) flush() error {
	items := es.sess.Take(es.spare)
	defer func() {
		// Drop the references now rather than at the next Take, so an
		// idle stream does not pin publications.
		clear(items)
		es.spare = items
	}()
	for i, it := range items {
		es.appendItem(it)
		if len(es.buf) >= maxChunk && i < len(items)-1 {
			if err := es.write(); err != nil {
				return err
			}
			if es.ended() && errors.Is(es.sess.Cause(), stream.ErrSlowConsumer) {
				return nil
			}
		}
	}
	return es.write()
}

// ended reports whether the hub ended the session.
func (es *eventStream) ended() bool {
	select {
	case <-es.sess.Done():
		return true
	default:
		return false
	}
}

// appendItem frames one queued item: the hub's bytes as they are, and an
// id line after a publication or a gap (which moves the channel to the
// start of its new epoch, so a reconnect resumes there).
func (es *eventStream) appendItem(it hub.Item) {
	es.buf = append(es.buf, it.Bytes...)
	switch {
	case it.Pub != nil:
		es.cursor.Set(it.Pub.Channel, it.Pub.Position())
		es.buf = appendID(es.buf, &es.cursor)
	case it.Gap != nil:
		es.cursor.Set(it.Gap.Channel, it.Gap.Position())
		es.buf = appendID(es.buf, &es.cursor)
	}
}

// appendQueued takes the session's queue and frames it: the hub's bytes as
// they are, and an id line after each publication.
func (es *eventStream) appendQueued() {
	items := es.sess.Take(es.spare)
	for _, it := range items {
		es.appendItem(it)
	}
	// Drop the references now rather than at the next Take, so an idle
	// stream does not pin publications.
	clear(items)
	es.spare = items
}

// write sends buf in one write and one flush, under WriteTimeout.
func (es *eventStream) write() error {
	if len(es.buf) == 0 {
		return nil
	}
	if es.nc != nil {
		err := es.writeConn()
		es.resetBuf()
		return err
	}
	// The deadline is lifted after each write: over HTTP/2 a deadline that
	// passes resets the stream even when no write is pending, which would
	// cut an idle but healthy stream. Writers that cannot take deadlines
	// (ErrNotSupported) still work, unbounded.
	_ = es.rc.SetWriteDeadline(time.Now().Add(es.h.cfg.WriteTimeout))
	_, err := es.w.Write(es.buf)
	if err == nil {
		err = es.rc.Flush()
	}
	_ = es.rc.SetWriteDeadline(time.Time{})
	es.resetBuf()
	return err
}

// resetBuf empties buf for the next write, keeping its storage unless one
// burst grew it large. A stream that left net/http keeps none: it is idle
// between wake-ups, and the next one allocates what it needs.
func (es *eventStream) resetBuf() {
	if cap(es.buf) > maxKeptBuffer || es.nc != nil {
		es.buf = nil
	} else {
		es.buf = es.buf[:0]
	}
}

// fail ends the session after a failed write; the client resumes with the
// last id it received. A write that timed out left the connection unable to
// carry anything more, not even a disconnect event: an EventSource drops
// the event cut short and resumes after the last whole one.
func (es *eventStream) fail(err error) {
	es.h.cfg.Logger.Debug("sse write failed", "client", es.sess.ID(), "err", err)
	es.sess.Disconnect(stream.ErrClosed)
}

// end tells the client why the hub ended its session. What was queued goes
// first, in the same write, so a shutdown loses nothing; a slow client gets
// only the disconnect, since its backlog is what it could not take, and it
// resumes from its last id.
func (es *eventStream) end() {
	cause := es.sess.Cause()
	if errors.Is(cause, stream.ErrClosed) {
		return
	}
	if !errors.Is(cause, stream.ErrSlowConsumer) {
		es.appendQueued()
	}
	es.buf = appendDisconnect(es.buf, protocol.DisconnectFor(cause))
	if err := es.write(); err != nil {
		es.h.cfg.Logger.Debug("sse disconnect not delivered", "client", es.sess.ID(), "err", err)
	}
}
