package poll

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/transport"
)

// A long poll over plain HTTP/1.1 that has nothing to answer yet leaves
// net/http while it waits: the handler hijacks the connection, so the
// request's goroutine, its buffers and net/http's background reader are
// released, and the socket waits in the poller (package internal/netpoll)
// for the client to go away. The hub's Wake, the hold's timer or the
// session's end answers it: a goroutine writes the reply net/http would
// have written (the same status line, headers and body) and hands the
// kept-alive connection back to the http.Server, which serves the
// client's next request on it as on a new connection. HTTP/2, TLS, a
// request that asks to close the connection and other systems wait in
// the request's goroutine as before (hold).

// replyWriteTimeout bounds the write of a parked poll's reply.
const replyWriteTimeout = 10 * time.Second

// parkedPoll is one long poll waiting outside net/http.
type parkedPoll struct {
	h   *Handler
	s   *hub.Session
	rp  reply
	hdr http.Header
	srv *http.Server
	box *[]hub.Item

	nc  net.Conn
	pre []byte // bytes the client sent after its request
	pn  netpoll.Handle

	timer *time.Timer
	live  atomic.Bool // the poll is parked: wake-ups count
	done  atomic.Bool // answered or abandoned, once
}

// parkable reports whether r can wait outside net/http.
func (h *Handler) parkable(w http.ResponseWriter, r *http.Request) bool {
	if h.poller == nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || r.Close {
		return false
	}
	if _, ok := r.Context().Value(http.ServerContextKey).(*http.Server); !ok {
		return false
	}
	return transport.CanHijack(w)
}

// park hijacks the connection and leaves the poll waiting for its
// session, its timer or its client. It reports false, with the connection
// untouched, when it cannot; the caller then answers at once.
func (h *Handler) park(w http.ResponseWriter, r *http.Request, s *hub.Session, rp *reply, timeout time.Duration, box *[]hub.Item, p *parkedPoll) bool {
	p.h, p.s, p.rp, p.box = h, s, *rp, box
	p.srv = r.Context().Value(http.ServerContextKey).(*http.Server)
	p.hdr = w.Header().Clone()
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	_ = nc.SetDeadline(time.Time{})
	p.nc = nc
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		p.pre = bytes.Clone(b)
	}
	h.wg.Add(1)
	// The timer exists, stopped, before anything can end the poll.
	p.timer = time.AfterFunc(timeout, func() { p.answer(true) })
	p.timer.Stop()
	armed := false
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			p.pn.Raw, p.pn.Ready = raw, p.readable
			armed = h.poller.Arm(&p.pn)
		}
	}
	if !armed {
		p.pn.Raw = nil
		go p.watch()
	}
	p.timer.Reset(timeout)
	p.live.Store(true)
	// Whatever came before the poll was parked.
	p.wake()
	return true
}

// wake is the session's Wake: the queue became non-empty or the session
// ended. It must not block, nor call into the session.
func (p *parkedPoll) wake() {
	if p.live.Load() && !p.done.Load() {
		go p.answer(false)
	}
}

// answer replies unless the poll was answered already; a wake-up that
// finds nothing queued and the session going on leaves it waiting.
func (p *parkedPoll) answer(timedOut bool) {
	if !timedOut && !p.s.Queued() && !ended(p.s) {
		return
	}
	if !p.done.CompareAndSwap(false, true) {
		return
	}
	p.finish(true)
}

// readable is the poller's call: the client went away, or sent something
// while its poll waits (a pipelined request, kept for after the reply).
func (p *parkedPoll) readable() {
	if netpoll.Gone(p.pn.Raw) || !p.h.poller.Arm(&p.pn) {
		p.abandon()
	}
}

// watch waits for the client to go away where the poller cannot.
func (p *parkedPoll) watch() {
	var b [1]byte
	if _, err := p.nc.Read(b[:]); err != nil {
		p.abandon()
	}
}

// abandon ends a poll whose client is gone: nobody reads a reply.
func (p *parkedPoll) abandon() {
	if p.done.CompareAndSwap(false, true) {
		go p.finish(false)
	}
}

// finish writes the reply when there is a client for it, releases the
// session and the poll's resources, and gives the connection back to the
// http.Server or closes it.
func (p *parkedPoll) finish(reply bool) {
	defer p.h.wg.Done()
	p.timer.Stop()
	if p.pn.Raw != nil {
		p.h.poller.Forget(&p.pn)
	}
	ok := false
	if reply {
		items := p.s.Take(*p.box)
		ok = p.write(items) == nil
		putItems(p.box, items)
	} else {
		putItems(p.box, nil)
	}
	p.s.Close()
	if !ok || p.pn.Raw == nil {
		// A connection with a reader of ours still on it cannot be given
		// back: that reader would take the next request's first byte.
		p.nc.Close()
		return
	}
	var c net.Conn = p.nc
	if len(p.pre) > 0 {
		c = &prefixConn{Conn: p.nc, pre: p.pre}
	}
	if err := p.srv.Serve(&oneConn{c: c}); !errors.Is(err, errServed) {
		c.Close() // the server is shutting down
	}
}

// write sends the reply net/http would have sent: status line, the
// request's headers (CORS) and the reply's, sorted, then Date, then the
// body.
func (p *parkedPoll) write(items []hub.Item) error {
	box := bodies.Get().(*[]byte)
	body := *box
	if need := p.rp.size(items); cap(body) < need {
		body = make([]byte, 0, need)
	}
	body = p.rp.appendTo(body[:0], items)
	p.hdr["Content-Type"] = jsonType
	p.hdr["Cache-Control"] = noStore
	p.hdr["X-Content-Type-Options"] = noSniff
	p.hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = p.hdr.Write(&head)
	head.WriteString("Date: ")
	head.WriteString(time.Now().UTC().Format(http.TimeFormat))
	head.WriteString("\r\n\r\n")
	_ = p.nc.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
	vec := net.Buffers{head.Bytes(), body}
	_, err := vec.WriteTo(p.nc)
	_ = p.nc.SetWriteDeadline(time.Time{})
	if cap(body) > maxPooledBody {
		body = nil
	}
	*box = body[:0]
	bodies.Put(box)
	return err
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

// prefixConn reads what the client sent while its poll waited before the
// socket.
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
