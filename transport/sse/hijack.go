package sse

import (
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/stream"
)

// A stream over plain HTTP/1.1 leaves net/http once its headers are out:
// the handler hijacks the connection, so the request's goroutine and its
// buffers are released, and the socket waits in the poller (package
// internal/netpoll) for the client to go away, as an idle WebSocket
// connection does. Nothing runs for an idle stream: the hub's Wake starts a
// writer goroutine when something is queued, and it ends once the queue is
// written. The body is what net/http would have sent: chunks of the same
// events, and the last chunk when the stream ends, then the connection
// closes. HTTP/2 streams, TLS connections and systems without a poller keep
// the request goroutine as their writer (eventStream.run).

// errStuck is what a write returns after one failed: the connection cannot
// carry anything more, not even a disconnect event.
var errStuck = errors.New("sse: connection unusable after a failed write")

// hijackable reports whether r's stream leaves net/http after its headers.
func (h *Handler) hijackable(w http.ResponseWriter, r *http.Request) bool {
	if h.poller == nil || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	// As http.ResponseController does, look through wrappers that say
	// what they wrap.
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// hijack sends the headers through net/http, takes the connection and
// hands the stream to its writer. It reports false when net/http refused
// the hijack; the caller then ends the stream.
//
// The first write (the retry and connected events and what the
// subscriptions queued, up to maxChunk) goes through net/http with the
// headers, as on every other path: a client sees the response start with
// its first events, never headers alone.
func (es *eventStream) hijack(w http.ResponseWriter, r *http.Request) bool {
	es.start(w, r)
	if err := es.flush(); err != nil {
		es.fail(err)
		es.sess.Close()
		return true
	}
	es.w, es.rc = nil, nil
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	h := es.h
	es.nc = nc
	es.chunked = r.ProtoAtLeast(1, 1)
	h.wg.Add(1)
	es.wmu.Lock()
	es.live = true
	es.wmu.Unlock()
	// Bytes the client sent after its request (it should send none) are
	// dropped with net/http's reader.
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			es.pn.Raw, es.pn.Ready = raw, es.readable
			if h.poller.Arm(&es.pn) {
				es.wake()
				return true
			}
			es.pn.Raw = nil
		}
	}
	go es.watch()
	es.wake()
	return true
}

// readable is the poller's call when the client sent something or went
// away: only the latter matters to a stream.
func (es *eventStream) readable() {
	if netpoll.Gone(es.pn.Raw) || !es.h.poller.Arm(&es.pn) {
		es.sess.Disconnect(stream.ErrClosed)
	}
}

// watch waits for the client to go away where the poller cannot.
func (es *eventStream) watch() {
	_, _ = io.Copy(io.Discard, es.nc)
	es.sess.Disconnect(stream.ErrClosed)
}

// wake starts the writer unless it runs. The hub calls it when the queue
// becomes non-empty and when the session ends.
func (es *eventStream) wake() {
	es.wmu.Lock()
	if es.writing || !es.live || es.over {
		es.wmu.Unlock()
		return
	}
	es.writing = true
	es.wmu.Unlock()
	go es.drain()
}

// drain is the hijacked stream's writer while it runs: it writes the queue
// until it is empty, and on the session's end tells the client why and
// closes. The decision to stop is taken under wmu, which wake also takes,
// so no wake-up is lost.
func (es *eventStream) drain() {
	for {
		// An ended session goes first, as in run.
		if es.ended() {
			es.end()
			es.finish()
			return
		}
		// Let whatever is runnable go first, as run does: a publication
		// being fanned out, or a replay refilling the queue, joins this
		// write.
		runtime.Gosched()
		if err := es.flush(); err != nil {
			es.fail(err)
		}
		if !es.sess.Queued() && !es.ended() {
			// Yield once more before giving the writes back: a replay
			// that the write just made room for refills the queue now,
			// and this writer takes it rather than a new one started
			// for it.
			runtime.Gosched()
		}
		es.wmu.Lock()
		if !es.sess.Queued() && !es.ended() {
			es.writing = false
			es.wmu.Unlock()
			return
		}
		es.wmu.Unlock()
	}
}

// finish ends the response with its last chunk and releases the
// connection.
func (es *eventStream) finish() {
	if es.chunked && !es.stuck {
		_ = es.nc.SetWriteDeadline(time.Now().Add(es.h.cfg.WriteTimeout))
		_, _ = es.nc.Write(lastChunk)
	}
	es.wmu.Lock()
	es.over, es.writing = true, false
	es.wmu.Unlock()
	if es.pn.Raw != nil {
		es.h.poller.Forget(&es.pn)
	}
	es.nc.Close()
	es.sess.Close()
	es.h.wg.Done()
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// writeConn sends buf on the hijacked connection under WriteTimeout, as
// one chunk of the response's body.
func (es *eventStream) writeConn() error {
	if es.stuck {
		return errStuck
	}
	_ = es.nc.SetWriteDeadline(time.Now().Add(es.h.cfg.WriteTimeout))
	var err error
	if es.chunked {
		var size [20]byte
		hd := append(strconv.AppendInt(size[:0], int64(len(es.buf)), 16), crlf...)
		bufs := net.Buffers{hd, es.buf, crlf}
		_, err = bufs.WriteTo(es.nc)
	} else {
		_, err = es.nc.Write(es.buf)
	}
	if err != nil {
		es.stuck = true
	}
	return err
}
