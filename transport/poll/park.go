package poll

import (
	"bytes"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/transport"
)

// A long poll over plain HTTP/1.1 that has nothing to answer yet leaves
// net/http while it waits: the handler hijacks the connection, so the
// request's goroutine, its buffers and net/http's background reader are
// released, and the socket waits in the poller (package internal/netpoll)
// for the client to go away. The hub's Wake, the hold's timer or the
// session's end answers it: a worker (see workers) writes the reply
// net/http would have written (the same status line, headers and body)
// without waiting for the socket, and the connection waits for its
// client's next request (see conn). HTTP/2, TLS, a request that asks to
// close the connection and other systems wait in the request's goroutine
// as before (hold).

// replyWriteTimeout bounds the write of a reply the handler writes itself
// (a parked poll's, or one served on a kept-alive connection: see conn).
const replyWriteTimeout = 10 * time.Second

// parkedPoll is one long poll waiting outside net/http.
type parkedPoll struct {
	h   *Handler
	s   *hub.Session
	rp  reply
	hdr http.Header
	box *[]hub.Item
	c   *conn

	// w is the session's Wake, which wakes this poll while it is
	// parked; keep, channels and token say whether and for what the
	// session may linger after the reply (see lingering).
	w        *waker
	keep     bool
	channels []string
	token    string

	// watched: the poller could not take the socket, so a goroutine of
	// the poll's reads it to notice the client going away; the connection
	// cannot be kept after the reply (that read may take the next
	// request's first byte).
	watched bool

	// deadline is when the poll times out (UnixNano), which its
	// connection's timer checks when it fires (see conn.timedOut).
	deadline int64
	live     atomic.Bool // the poll is parked: wake-ups count
	done     atomic.Bool // answered or abandoned, once
}

// parkable reports whether r can wait outside net/http.
func (h *Handler) parkable(w http.ResponseWriter, r *http.Request) bool {
	if h.poller == nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || r.Close {
		return false
	}
	if _, ok := w.(*fastWriter); ok {
		// A request on a connection the handler kept: it parked before,
		// and the head parser takes nothing else.
		return true
	}
	if _, ok := r.Context().Value(http.ServerContextKey).(*http.Server); !ok {
		return false
	}
	return transport.CanHijack(w)
}

// park takes the connection (from net/http, by hijacking it, or from the
// handler's own writer on a connection it kept) and leaves the poll
// waiting for its session, its timer or its client. It reports false, with
// the connection untouched, when it cannot; the caller then answers at
// once.
func (h *Handler) park(w http.ResponseWriter, r *http.Request, s *hub.Session, rp *reply, timeout time.Duration, box *[]hub.Item, p *parkedPoll) bool {
	p.h, p.s, p.rp, p.box = h, s, *rp, box
	if fw, ok := w.(*fastWriter); ok {
		// The connection's writer is not used again before this poll's
		// reply is written: its header is the poll's.
		fw.parked = true
		p.c, p.hdr = fw.c, fw.hdr
	} else {
		p.hdr = w.Header().Clone()
		srv := r.Context().Value(http.ServerContextKey).(*http.Server)
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return false
		}
		_ = nc.SetDeadline(time.Time{})
		p.c = h.newConn(nc, srv, r)
		if n := brw.Reader.Buffered(); n > 0 {
			b, _ := brw.Reader.Peek(n)
			p.c.pre = bytes.Clone(b)
		}
	}
	h.wg.Add(1)
	h.parked.Add(1)
	p.deadline = time.Now().Add(timeout).UnixNano()
	c := p.c
	c.cur.Store(p)
	p.w.p.Store(p)
	if !c.watch() {
		p.watched = true
		_ = c.nc.SetReadDeadline(time.Time{}) // one a kept connection's head left
		go p.watch()
	} else if c.ready.Load() {
		// The client sent something, or left, while the poll was served.
		c.check(p)
	}
	c.armTimeout(timeout, p.deadline)
	p.live.Store(true)
	// Whatever came before the poll was parked.
	p.wake()
	return true
}

// wake is the session's Wake: the queue became non-empty or the session
// ended. It must not block, nor call into the session.
func (p *parkedPoll) wake() {
	if p.live.Load() && !p.done.Load() {
		p.h.workers.run(answerTask{p})
	}
}

type answerTask struct{ p *parkedPoll }

func (t answerTask) run() { t.p.answer(false) }

type abandonTask struct{ p *parkedPoll }

func (t abandonTask) run() { t.p.finish(false) }

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

// watch waits for the client to go away where the poller cannot.
func (p *parkedPoll) watch() {
	var b [1]byte
	if _, err := p.c.nc.Read(b[:]); err != nil {
		p.abandon()
	}
}

// abandon ends a poll whose client is gone: nobody reads a reply.
func (p *parkedPoll) abandon() {
	if p.done.CompareAndSwap(false, true) {
		p.h.workers.run(abandonTask{p})
	}
}

// finish writes the reply when there is a client for it, releases the
// session and the poll's resources, and serves the connection's next
// request (see conn.next) or closes it.
func (p *parkedPoll) finish(reply bool) {
	defer p.h.wg.Done()
	p.h.parked.Add(-1)
	c := p.c
	// From here the poller's readiness calls are not this poll's: the
	// next request may arrive as soon as the reply is out.
	c.cur.Store(nil)
	if !reply {
		putItems(p.box, nil)
		p.s.Close()
		c.close()
		return
	}
	if p.h.lingers(p.keep, p.s, c) && !p.watched {
		// Set before the write: a goroutine that writes the rest of
		// the reply may close the connection, and the session with it.
		c.linger = lingering{s: p.s, w: p.w, channels: p.channels, token: p.token, rp: &p.rp}
	} else {
		defer p.s.Close()
	}
	items := p.s.Take(*p.box)
	pending, err := p.write(items)
	putItems(p.box, items)
	switch {
	case pending:
		// The rest of the reply, then the next request, are the
		// writing goroutine's.
	case err != nil || p.watched:
		c.close()
	default:
		c.next()
	}
}

// armTimeout makes sure the connection's poll timer fires by deadline
// (UnixNano, timeout from now). The timer is the connection's, made by its
// first park; it is armed again only when it would fire after deadline:
// one that fires earlier, for a poll answered since, finds the poll parked
// now, if any, and arms itself for what is left of its wait (see
// timedOut), so a poll answered before its timeout costs no timer change.
func (c *conn) armTimeout(timeout time.Duration, deadline int64) {
	if c.pollTimer == nil {
		c.pollTimer = time.AfterFunc(math.MaxInt64, c.timedOut) // armed below
	}
	// After the poll is stored in cur: a firing that found no poll has
	// cleared armedAt by then (see timedOut).
	if at := c.armedAt.Load(); at == 0 || at > deadline {
		c.armedAt.Store(deadline)
		c.pollTimer.Reset(timeout)
	}
}

// timedOut is the poll timer's call: it answers the parked poll whose
// deadline has passed, or arms the timer again for one that waits longer.
func (c *conn) timedOut() {
	c.armedAt.Store(0) // before cur is read: see armTimeout
	p := c.cur.Load()
	if p == nil || p.done.Load() || c.left.Load() {
		return
	}
	if left := time.Duration(p.deadline - time.Now().UnixNano()); left > 0 {
		c.armedAt.Store(p.deadline)
		c.pollTimer.Reset(left)
		return
	}
	p.answer(true)
}

// lingers reports whether a long poll's session may stay with its kept
// connection c after the reply (see lingering): keep (every channel
// subscribed, none cut short), a connection that serves its own polls, a
// session going on and no Wait begun.
func (h *Handler) lingers(keep bool, s *hub.Session, c *conn) bool {
	return keep && c != nil && c.path != "" && !h.closing.Load() && !ended(s)
}

// write sends the reply net/http would have sent: status line, the
// request's headers (CORS) and the reply's, sorted, then Date, then the
// body (see conn.writeResponse for pending).
func (p *parkedPoll) write(items []hub.Item) (pending bool, err error) {
	box := bodies.Get().(*[]byte)
	body := *box
	if need := p.rp.size(items); cap(body) < need {
		body = make([]byte, 0, need)
	}
	body = p.rp.appendTo(body[:0], items)
	p.hdr["Content-Type"] = jsonType
	p.hdr["Cache-Control"] = noStore
	p.hdr["X-Content-Type-Options"] = noSniff
	return p.c.writeResponse(http.StatusOK, p.hdr, body, box, !p.watched)
}
