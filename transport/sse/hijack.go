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

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
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
	return transport.CanHijack(w)
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
	// Deadlines net/http left on the connection are not the stream's.
	_ = nc.SetDeadline(time.Time{})
	es.nc = nc
	es.chunked = r.ProtoAtLeast(1, 1)
	h.wg.Add(1)
	// Bytes the client sent after its request (it should send none) are
	// dropped with net/http's reader. A client that goes away before the
	// stream is live ends the session, and the wake below finishes it.
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			es.pn.Raw, es.pn.Ready = raw, es.readable
			if h.poller.Arm(&es.pn) {
				es.raw = raw
			} else {
				es.pn.Raw = nil
			}
		}
	}
	if es.raw == nil {
		// No poller for this socket: a goroutine waits for the client to
		// go, and the fan-out does not write to it (see Claim).
		go es.watch()
	}
	es.wmu.Lock()
	es.live = true
	es.wmu.Unlock()
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

var _ hub.Direct = (*eventStream)(nil)

// Claim reserves the stream's writes for one direct write from the hub's
// fan-out, as a WebSocket connection's Claim does: only when no writer
// runs and nothing is queued, so the publication cannot overtake anything.
// The hub calls it under a channel's lock; it takes wmu and the session's
// lock, and neither is ever held while taking a channel's.
func (es *eventStream) Claim() bool {
	es.wmu.Lock()
	defer es.wmu.Unlock()
	if es.writing || !es.live || es.over || es.raw == nil || es.sess.Queued() || es.ended() {
		return false
	}
	es.writing = true
	return true
}

// WriteNow is the claimed direct write: the publication's event with the
// stream's cursor after it, and whatever was queued since the claim, in
// one chunk and one non-blocking write. What the socket does not take, and
// anything queued after, is left to a writer goroutine (drain), which
// blocks under the write deadline as usual; so does a session that ended
// meanwhile. A client whose socket stays full is thus cut by the queue
// limit (3002) as before.
func (es *eventStream) WriteNow(it hub.Item) {
	if !es.stuck {
		es.appendItem(it)
		items := es.sess.Take(es.spare)
		for _, q := range items {
			es.appendItem(q)
		}
		clear(items)
		es.spare = items
		vec := es.frame()
		nb := es.h.writers.Get().(*netpoll.Writer)
		n, err := nb.WriteNonblock(es.raw, vec)
		es.h.writers.Put(nb)
		if err != nil {
			es.stuck = true
			es.fail(err)
		} else {
			es.rest = unwritten(vec, n)
		}
		es.buf = nil // rest may hold its tail
	}
	es.wmu.Lock()
	more := !es.over && (len(es.rest) > 0 || es.sess.Queued() || es.ended())
	if !more {
		es.writing = false
	}
	es.wmu.Unlock()
	if more {
		go es.drain()
	}
}

// frame is buf as the body's next piece: one chunk when the response is
// chunked.
func (es *eventStream) frame() net.Buffers {
	if !es.chunked {
		return net.Buffers{es.buf}
	}
	hd := append(strconv.AppendInt(make([]byte, 0, 20), int64(len(es.buf)), 16), crlf...)
	return net.Buffers{hd, es.buf, crlf}
}

// unwritten returns the part of vec after its first n bytes, in vec's own
// storage: nil when all of it was written.
func unwritten(vec net.Buffers, n int) net.Buffers {
	for i, b := range vec {
		if n < len(b) {
			vec[i] = b[n:]
			return vec[i:]
		}
		n -= len(b)
	}
	return nil
}

// drain is the hijacked stream's writer while it runs: it writes the queue
// until it is empty, and on the session's end tells the client why and
// closes. The decision to stop is taken under wmu, which wake also takes,
// so no wake-up is lost.
func (es *eventStream) drain() {
	if len(es.rest) > 0 {
		// The rest of a direct write goes first, even to a slow client:
		// an event cut short would garble whatever follows it.
		if !es.stuck {
			es.setWriteDeadline()
			if _, err := es.rest.WriteTo(es.nc); err != nil {
				es.stuck = true
				es.fail(err)
			}
		}
		es.rest = nil
	}
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
		if es.deadline {
			// A direct write needs no deadline, but the runtime refuses
			// every write once one left behind has passed.
			es.deadline = false
			_ = es.nc.SetWriteDeadline(time.Time{})
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
		es.setWriteDeadline()
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

// setWriteDeadline gives the next blocking write WriteTimeout; drain lifts
// it before it ends.
func (es *eventStream) setWriteDeadline() {
	es.deadline = true
	_ = es.nc.SetWriteDeadline(time.Now().Add(es.h.cfg.WriteTimeout))
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
	es.setWriteDeadline()
	vec := es.frame()
	_, err := vec.WriteTo(es.nc)
	if err != nil {
		es.stuck = true
	}
	return err
}
