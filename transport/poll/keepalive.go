package poll

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/internal/netpoll"
)

// A connection a parked poll took from net/http stays with the handler
// after the reply: its client's next request is nearly always the next
// poll, and serving it through net/http again — a new connection to the
// http.Server, its buffers, its request parsing, its response machinery,
// the socket taken from the poller and put back — cost more than the poll
// itself. So the socket stays registered with the poller, edge-triggered,
// for the connection's life, and between polls the connection waits there
// with no goroutine (see conn.next); when the next request arrives, the
// poller's call hands the connection to a worker (see workers), which
// reads the head into a pooled buffer without waiting, and when it is a
// plain poll on the same path (GET, HTTP/1.1, no body, no upgrade, not
// asking to close) serves it with the handler directly, through a small
// ResponseWriter that writes the reply as net/http would (see fastWriter).
// A poll that has to wait parks again, on the same registration. Anything
// else — another path or method, a head the handler does not take — goes
// back to the http.Server with the bytes already read, and is answered
// exactly as before.
//
// The connection keeps net/http's timeouts while it is the handler's: the
// server's IdleTimeout (or ReadTimeout) for the next request to start, its
// ReadHeaderTimeout for the head to finish; a client that lets either pass
// has its connection closed, as net/http closes it. Handler.Wait closes
// the connections waiting for a request.
//
// A request served this way skips the middleware the handler is mounted
// under, so mount it only under wrappers that add nothing a poll needs
// (package server wraps it in transport.Bound, whose write deadline the
// handler's own writes keep: replyWriteTimeout).

// maxHead is the longest request head the handler reads itself; a longer
// one goes to net/http, which allows far more.
const maxHead = 4 << 10

var heads = sync.Pool{New: func() any { b := make([]byte, 0, maxHead); return &b }}

// conn is a connection taken from net/http by a parked poll.
type conn struct {
	h      *Handler
	nc     net.Conn
	srv    *http.Server
	ctx    context.Context // what net/http's request context carries
	remote string
	// path is the endpoint's path as net/http routed the first poll to
	// it; empty (the handler keeps no request) when it was escaped.
	path string

	// pn is the socket's registration with the poller, from its first
	// park until the connection leaves, edge-triggered (et; see
	// netpoll.Poller.Watch); cur is the poll parked on it, nil between
	// polls.
	pn   netpoll.Handle
	et   bool
	cur  atomic.Pointer[parkedPoll]
	left atomic.Bool // forgotten by the poller: closed or handed back

	// state says who has the connection: a goroutine (connBusy), or
	// nobody while it waits in the poller for its next request
	// (connIdle); whoever moves it out of connIdle has it. ready is set by
	// each readiness call and cleared before each read of the socket, so
	// bytes that came while the connection was busy are read before it
	// waits again.
	state atomic.Int32
	ready atomic.Bool
	// idle ends the wait for the next request at the server's idle
	// timeout; idleEnd is the current wait's deadline (UnixNano), which
	// the timer, armed once, checks when it fires (see expire).
	idle    *time.Timer
	idleEnd atomic.Int64
	// pollTimer times out the polls parked on the connection; armedAt is
	// when it fires (UnixNano), 0 when it has fired (see armTimeout).
	pollTimer *time.Timer
	armedAt   atomic.Int64

	pre []byte // read and not served yet: a request sent ahead

	// hdr and body are lent to the fastWriter of each request served on
	// the connection, one at a time, so the header map and the body
	// buffer are reused from one poll to the next; a parked poll writes
	// its reply with the header the handler set on it (see park).
	hdr  http.Header
	body []byte
	// req and reqHdr are each request's, reused likewise (see request).
	req    *http.Request
	reqHdr http.Header

	// linger is the last long poll's session, kept for the next (see
	// lingering); whoever has the connection has it, and closing or
	// handing back the connection closes it.
	linger lingering
}

const (
	connBusy int32 = iota // a goroutine has the connection
	connIdle              // it waits in the poller for a request
)

func (h *Handler) newConn(nc net.Conn, srv *http.Server, r *http.Request) *conn {
	c := &conn{h: h, nc: nc, srv: srv, remote: r.RemoteAddr}
	if r.URL.RawPath == "" && !strings.Contains(r.URL.Path, "%") {
		c.path = r.URL.Path
	}
	ctx := context.WithValue(context.Background(), http.ServerContextKey, srv)
	c.ctx = context.WithValue(ctx, http.LocalAddrContextKey, nc.LocalAddr())
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.pn.Raw, c.pn.Ready = raw, c.readable
		}
	}
	return c
}

// watch registers the socket with the poller for the connection's life,
// once; false when the poller cannot take it.
func (c *conn) watch() bool {
	if !c.et && c.pn.Raw != nil {
		c.et = c.h.poller.Watch(&c.pn)
	}
	return c.et
}

// readable is the poller's call, on the goroutine of the poller, each
// time the client sends something or goes away. While a poll waits, it
// checks for the client's end (see check); while the connection waits for
// its next request, it hands the connection to a worker, which reads and
// serves it (see resume); while a goroutine has the connection, ready
// tells that goroutine to read before it waits again.
func (c *conn) readable() {
	c.ready.Store(true)
	if p := c.cur.Load(); p != nil && !p.done.Load() {
		c.check(p)
		return
	}
	if c.state.CompareAndSwap(connIdle, connBusy) {
		c.h.workers.run(resumeTask{c})
	}
}

// check looks at the socket of a parked poll after a readiness call: a
// client gone abandons the poll. A request sent before the reply stays in
// the socket, and ready says so, for next; this poll then no longer
// notices its client leaving, and ends by its session or its timer.
func (c *conn) check(p *parkedPoll) {
	if gone, _ := netpoll.Peek(c.pn.Raw); gone {
		p.abandon()
	}
}

type resumeTask struct{ c *conn }

func (t resumeTask) run() { t.c.resume() }

// resume serves the request that ended the connection's wait.
func (c *conn) resume() {
	if !c.h.idleTake(c) {
		c.close()
		return
	}
	defer c.h.wg.Done()
	c.next()
}

// next serves the connection's next requests — one sent ahead, one the
// socket holds — until one parks, the connection goes back to net/http or
// closes, or the socket holds nothing: then the connection waits in the
// poller, with no goroutine, for its client's next request (see
// readable). The caller has the connection and no poll is parked on it.
func (c *conn) next() {
	for {
		bp := heads.Get().(*[]byte)
		b := append((*bp)[:0], c.pre...)
		c.pre = c.pre[:0]
		end := headEnd(b)
		if end < 0 && len(b) < cap(b) && (c.ready.Swap(false) || len(b) > 0 || c.pn.Hangup()) {
			n, err := netpoll.ReadNonblock(c.pn.Raw, b[len(b):cap(b)])
			if err != nil {
				putHead(bp)
				c.close()
				return
			}
			if len(b)+n == cap(b) {
				c.ready.Store(true) // there may be more
			}
			b = b[:len(b)+n]
			end = headEnd(b)
		}
		switch {
		case end >= 0 || len(b) == cap(b):
			// A whole head, or one longer than the handler reads.
			*bp = b
			if !c.serveHead(bp, end) {
				return
			}
			continue
		case len(b) > 0:
			// Part of a head: the rest is waited for on a goroutine
			// of its own, within the header timeout.
			c.pre = append(c.pre, b...)
			putHead(bp)
			c.h.wg.Add(1)
			go c.serve()
			return
		}
		putHead(bp)
		if !c.wait() {
			return
		}
	}
}

// wait leaves the connection waiting in the poller for its next request,
// its idle timeout or Wait. It reports true when the connection is the
// caller's again at once: bytes came as it was leaving.
func (c *conn) wait() bool {
	if !c.et {
		c.h.wg.Add(1)
		go c.serve()
		return false
	}
	if !c.h.idleAdd(c) {
		c.close()
		return false
	}
	if d := c.idleTimeout(); d > 0 {
		// The timer is armed once, and again only when it fires before
		// the wait's end (see expire): a wait costs no timer change.
		c.idleEnd.Store(time.Now().Add(d).UnixNano())
		if c.idle == nil {
			c.idle = time.AfterFunc(d, c.expire)
		}
	}
	c.state.Store(connIdle)
	// A readiness call that found the connection busy, or Wait's, which
	// found it busy in the idle set, is this goroutine's to act on.
	if (c.ready.Load() || c.h.closing.Load()) && c.state.CompareAndSwap(connIdle, connBusy) {
		c.h.idleDel(c)
		if c.h.closing.Load() {
			c.close()
			return false
		}
		return true
	}
	return false
}

// expire closes a connection whose client sent no request within the
// server's idle timeout, as net/http closes it. The timer is the
// connection's, armed by its first wait; when it fires before the current
// wait's end, or while the connection is busy, it is armed again for what
// is left (a busy connection's next wait starts a whole timeout then).
func (c *conn) expire() {
	if c.left.Load() {
		return
	}
	d := c.idleTimeout()
	if left := time.Duration(c.idleEnd.Load() - time.Now().UnixNano()); c.state.Load() == connIdle && left > 0 {
		d = left
	} else if c.state.CompareAndSwap(connIdle, connBusy) {
		c.h.idleDel(c)
		c.close()
		return
	}
	c.idle.Reset(d)
}

// serveHead serves the request whose head is b[:end] (end -1: a head the
// handler does not read). It reports true when the reply went out and the
// connection is the caller's for the next request.
func (c *conn) serveHead(bp *[]byte, end int) bool {
	b := *bp
	r := c.request(b, end)
	if r == nil {
		c.handOff(b)
		putHead(bp)
		return false
	}
	c.pre = append(c.pre[:0], b[end:]...)
	putHead(bp)
	fw := c.writer()
	c.h.ServeHTTP(fw, r)
	if fw.parked {
		return false
	}
	c.body = fw.body
	pending, err := fw.flush()
	if err != nil {
		c.close()
		return false
	}
	return !pending
}

// serve reads the connection's next request head on its own goroutine,
// waiting within net/http's timeouts, and serves it and those after it
// (see next). It is for a head that came in part, or a socket the poller
// could not take.
func (c *conn) serve() {
	defer c.h.wg.Done()
	if !c.h.idleAdd(c) {
		c.close()
		return
	}
	bp, end, err := c.readHead()
	c.h.idleDel(c)
	if err != nil {
		putHead(bp)
		c.close()
		return
	}
	_ = c.nc.SetReadDeadline(time.Time{}) // the poller's reads fail past one
	if c.serveHead(bp, end) {
		c.next()
	}
}

// readHead reads until a whole request head is in the buffer, and says
// where it ends. A full buffer is no error: end is -1 and the head goes to
// net/http. The read deadline it sets stays: whatever reads the socket
// next sets its own (see handOff and park).
func (c *conn) readHead() (bp *[]byte, end int, err error) {
	bp = heads.Get().(*[]byte)
	b := append((*bp)[:0], c.pre...)
	c.pre = c.pre[:0]
	if len(b) == 0 {
		var idle time.Time
		if d := c.idleTimeout(); d > 0 {
			idle = time.Now().Add(d)
		}
		_ = c.nc.SetReadDeadline(idle)
	}
	for started := false; ; {
		if end = headEnd(b); end >= 0 || len(b) == cap(b) {
			break
		}
		if !started && len(b) > 0 {
			// Part of a head: the rest within net/http's header timeout.
			started = true
			var hdr time.Time
			if d := c.headerTimeout(); d > 0 {
				hdr = time.Now().Add(d)
			}
			_ = c.nc.SetReadDeadline(hdr)
		}
		var n int
		n, err = c.nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	*bp = b
	if end >= 0 {
		err = nil
	}
	return bp, end, err
}

// headEnd is the length of the request head at the start of b (up to and
// including its empty line), or -1 when b holds no whole head.
func headEnd(b []byte) int {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		j := i + 1
		switch {
		case j < len(b) && b[j] == '\n':
			return j + 1
		case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
			return j + 2
		}
		k := bytes.IndexByte(b[j:], '\n')
		if k < 0 {
			return -1
		}
		i = j + k
	}
	return -1
}

// request parses the head b[:end] and returns it when the handler serves
// it itself, nil when net/http must. The request and its header map are
// the connection's, reused by each of its requests in turn: a request is
// done with them once the next head is read (a parked poll keeps neither).
func (c *conn) request(b []byte, end int) *http.Request {
	if c.path == "" || end < 0 {
		return nil
	}
	if c.req == nil {
		c.req = (&http.Request{URL: new(url.URL)}).WithContext(c.ctx)
		c.reqHdr = make(http.Header, 8)
	}
	clear(c.reqHdr)
	if !parseHeadInto(b[:end], c.path, c.req, c.reqHdr) {
		return nil
	}
	c.req.RemoteAddr = c.remote
	return c.req
}

func putHead(bp *[]byte) {
	*bp = (*bp)[:0]
	heads.Put(bp)
}

// idleTimeout and headerTimeout are net/http's for a kept-alive
// connection.
func (c *conn) idleTimeout() time.Duration {
	if c.srv.IdleTimeout != 0 {
		return c.srv.IdleTimeout
	}
	return c.srv.ReadTimeout
}

func (c *conn) headerTimeout() time.Duration {
	if c.srv.ReadHeaderTimeout != 0 {
		return c.srv.ReadHeaderTimeout
	}
	return c.srv.ReadTimeout
}

// leave takes the socket out of the poller before it closes or goes back.
func (c *conn) leave() {
	c.linger.close()
	c.left.Store(true)
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.pollTimer != nil {
		c.pollTimer.Stop()
	}
	if c.pn.Raw != nil {
		c.h.poller.Forget(&c.pn)
	}
}

func (c *conn) close() {
	c.leave()
	c.nc.Close()
}

// handOff gives the connection back to the http.Server, which serves it
// as a new connection, reading the bytes b first.
func (c *conn) handOff(b []byte) {
	c.leave()
	_ = c.nc.SetDeadline(time.Time{})
	var nc net.Conn = c.nc
	if len(b) > 0 {
		nc = &prefixConn{Conn: c.nc, pre: bytes.Clone(b)}
	}
	if err := c.srv.Serve(&oneConn{c: nc}); !errors.Is(err, errServed) {
		nc.Close() // the server is shutting down
	}
}

// writeResponse writes a whole response: the status line, hdr sorted,
// Date, the empty line, then body. On a socket the poller watches it
// writes what the socket takes at once; when that is not all (a client
// slow to read), pending is true and a goroutine of its own writes the
// rest under replyWriteTimeout, then serves the connection's next request
// (see next) when keep is true, or closes it; the caller leaves the
// connection alone then. box, when not nil, is body's pooled buffer, put
// back once written.
func (c *conn) writeResponse(status int, hdr http.Header, body []byte, box *[]byte, keep bool) (pending bool, err error) {
	hb := heads.Get().(*[]byte)
	head := append((*hb)[:0], "HTTP/1.1 "...)
	head = strconv.AppendInt(head, int64(status), 10)
	head = append(head, ' ')
	head = append(head, http.StatusText(status)...)
	head = append(head, "\r\n"...)
	head = appendHeader(head, hdr, len(body))
	head = append(head, "Date: "...)
	head = appendDate(head, time.Now())
	head = append(head, "\r\n\r\n"...)
	out := &outgoing{hb: hb, head: head, box: box, body: body}
	if !c.et {
		_ = c.nc.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
		vec := net.Buffers{head, body}
		_, err = vec.WriteTo(c.nc) // the deadline stays: the next write sets its own
		out.release()
		return false, err
	}
	w := directs.Get().(*direct)
	w.vec[0], w.vec[1] = head, body
	n, err := w.WriteNonblock(c.pn.Raw, w.vec[:])
	w.vec[0], w.vec[1] = nil, nil
	directs.Put(w)
	if err != nil || n == len(head)+len(body) {
		out.release()
		return false, err
	}
	if n < len(head) {
		out.rest = net.Buffers{head[n:], body}
	} else {
		out.rest = net.Buffers{body[n-len(head):]}
	}
	c.h.wg.Add(1)
	go c.writeRest(out, keep)
	return true, nil
}

// outgoing is a response on its way out, and the pooled buffers it holds.
type outgoing struct {
	hb   *[]byte
	head []byte
	box  *[]byte
	body []byte
	rest net.Buffers
}

func (o *outgoing) release() {
	if cap(o.head) <= maxHead {
		*o.hb = o.head[:0]
		heads.Put(o.hb)
	}
	if o.box != nil {
		putBody(o.box, o.body)
	}
}

// writeRest writes what the socket did not take at once, waiting for it.
func (c *conn) writeRest(o *outgoing, keep bool) {
	defer c.h.wg.Done()
	_ = c.nc.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
	_, err := o.rest.WriteTo(c.nc)
	// The direct writes that follow fail past a deadline.
	_ = c.nc.SetWriteDeadline(time.Time{})
	o.release()
	if err != nil || !keep {
		c.close()
		return
	}
	c.next()
}

// direct is a pooled non-blocking writer with room for a response's two
// buffers.
type direct struct {
	netpoll.Writer
	vec [2][]byte
}

var directs = sync.Pool{New: func() any { return new(direct) }}

// dates keeps the Date header of the current second: a burst of replies
// formats it once.
var dates atomic.Pointer[dateLine]

type dateLine struct {
	sec  int64
	text []byte
}

// appendDate appends t's second in http.TimeFormat.
func appendDate(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if d := dates.Load(); d != nil && d.sec == sec {
		return append(dst, d.text...)
	}
	d := &dateLine{sec: sec, text: t.UTC().AppendFormat(nil, http.TimeFormat)}
	dates.Store(d)
	return append(dst, d.text...)
}

// fastWriter is the ResponseWriter of a request served on a kept
// connection: it gathers the reply and writes it as net/http would (see
// conn.writeResponse), or lets park take the connection.
type fastWriter struct {
	c      *conn
	hdr    http.Header
	status int
	body   []byte
	parked bool // park took the connection: nothing to write
}

// writer returns the ResponseWriter of the connection's next request. The
// previous request is done with the header and the body buffer it lends:
// answered, or parked and answered since, since a parked poll's reply is
// written before the next request is read. The writer itself is new: the
// goroutine that served a poll that parked reads its parked flag after
// the reply may have gone out and the next request begun.
func (c *conn) writer() *fastWriter {
	if c.hdr == nil {
		c.hdr = make(http.Header, 8)
	}
	clear(c.hdr)
	if cap(c.body) > maxPooledBody {
		c.body = nil // a rare large reply's buffer is not kept
	}
	return &fastWriter{c: c, hdr: c.hdr, body: c.body[:0]}
}

func (w *fastWriter) Header() http.Header { return w.hdr }

func (w *fastWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *fastWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}

// Hijack is never called: park takes the connection from the writer
// itself. It is there so that the handler sees a connection it may keep.
func (w *fastWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("poll: the connection is kept by the handler already")
}

// flush writes the reply (see conn.writeResponse: pending says a
// goroutine has the connection).
func (w *fastWriter) flush() (pending bool, err error) {
	w.WriteHeader(http.StatusOK)
	if len(w.body) > 0 && w.hdr["Content-Type"] == nil {
		w.hdr["Content-Type"] = []string{http.DetectContentType(w.body)}
	}
	return w.c.writeResponse(w.status, w.hdr, w.body, nil, true)
}

// idleAdd counts c among the connections waiting for a request, unless
// Wait has begun; idleDel takes it out.
func (h *Handler) idleAdd(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing.Load() {
		return false
	}
	h.idle[c] = struct{}{}
	return true
}

func (h *Handler) idleDel(c *conn) {
	h.mu.Lock()
	delete(h.idle, c)
	h.mu.Unlock()
}

// idleTake takes c, which a readiness call took from its wait in the
// poller, out of the idle set and counts it among the connections Wait
// waits for; false when Wait has begun.
func (h *Handler) idleTake(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.idle, c)
	if h.closing.Load() {
		return false
	}
	h.wg.Add(1)
	return true
}

// closeIdle ends the waits for a request, for Wait: a connection waiting
// in the poller is closed, one whose goroutine reads is cut.
func (h *Handler) closeIdle() {
	var idle []*conn
	h.mu.Lock()
	h.closing.Store(true)
	for c := range h.idle {
		if c.state.CompareAndSwap(connIdle, connBusy) {
			delete(h.idle, c)
			idle = append(idle, c)
			continue
		}
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	h.mu.Unlock()
	// Closed, with their lingering sessions, outside the lock.
	for _, c := range idle {
		c.close()
	}
}

// errServed ends oneConn's Serve once its connection is handed over.
var errServed = errors.New("poll: connection handed back")

// oneConn is a listener that yields one connection: http.Server.Serve
// serves it as a new connection, then returns errServed.
type oneConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.c
	l.c = nil
	if c == nil {
		return nil, errServed
	}
	return c, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "parked-poll" }

// prefixConn reads the bytes already read from the socket first.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// SyscallConn returns the socket once the bytes read ahead are consumed,
// so that a poll served on it by net/http may park again.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok || len(c.pre) > 0 {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
