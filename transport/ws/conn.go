package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// discardLimit is the largest oversize frame skipped while keeping the
// connection; a larger one closes it, since reading it costs the server.
const discardLimit = 4 << 20

// conn is one WebSocket connection. The reader goroutine (serve) owns reads;
// before connect it also writes replies itself, after connect only the
// writer goroutine writes.
type conn struct {
	h  *Handler
	nc net.Conn
	// pre is what was read from the socket and not yet taken by the
	// frame reader: bytes sent with the upgrade request, or the rest of
	// the last read, in rbuf, the reader's buffer while it reads (see
	// Read). Both are the reader's.
	pre  []byte
	rbuf *[]byte

	sess   *hub.Session
	ctx    context.Context
	cancel context.CancelFunc

	// frames counts frames against the rate before connect (the session
	// counts them after); refusals counts frames refused for the rate.
	// Both are the reader's.
	frames, refusals bucket

	// The writer goroutine exists only while there is something to write:
	// an idle connection costs no goroutine beyond its reader. wmu guards
	// writing, stopped and ended; flushing counts flush goroutines and
	// claimed direct writes. writing says who may write: a flush
	// goroutine, or the hub's fan-out between Claim and the end of
	// WriteNow; never both.
	wmu      sync.Mutex
	writing  bool
	replying bool // the reader writes what its command queued itself: see replyNow
	stopped  bool // serve is done: no new flush goroutine
	ended    bool // the disconnect was written and the socket closed
	// woken says a wake-up came while a direct write held the writes
	// (between Claim, or replyNow, and the end of writeDirect): something
	// was queued or the session ended. Only then does the direct write
	// look at the session, whose memory a pass over thousands of idle
	// connections would otherwise fetch for each of them. Stored under
	// wmu; writeDirect's first look is outside it.
	woken    atomic.Bool
	flushing sync.WaitGroup
	// held is a direct write the socket did not take whole: the flush
	// goroutine WriteNow starts sends its rest first. Owned by the writer.
	held *writeState

	// head is the 101, when the client sent a whole frame with its
	// upgrade request (see Handler.ServeHead): it goes out in the first
	// write, with the first reply. Owned by whoever writes; see takeHead.
	head []byte

	// deadline is when the write deadline was last set (unix nanoseconds),
	// owned by whoever writes; see setWriteDeadline. stuck is set, by the
	// writer, when a write failed: nothing more is written.
	deadline int64
	stuck    bool

	// An idle connection parks in the handler's poller instead of keeping
	// a reader goroutine (Linux, plain TCP; pn.Raw is nil otherwise), which
	// calls resume when the client sends something. The socket is
	// registered once, edge-triggered, when the connection first parks
	// (watched, the reader's), so parking again costs no system call; the
	// poller then also calls resume for what arrives while a reader runs.
	// state says whether a reader runs, runs with such an arrival noted
	// (woken), or the connection is parked; whoever moves it from parked
	// to reading starts the reader. closing is set by the writer before it
	// closes the socket.
	pn      netpoll.Handle
	watched bool
	state   atomic.Int32
	closing atomic.Bool

	// early says the connection parked before connect (see
	// Handler.start): the reader the poller starts serves the handshake.
	// Set before the park, cleared by that reader. connectBy wakes it at
	// the connect timeout, when the read deadline set then has passed.
	early     bool
	connectBy *time.Timer
}

const (
	reading int32 = iota
	parked
	woken
)

// writeState is a writer's scratch space: the items taken from the queue and
// the vector handed to writev. Flush goroutines borrow one from the
// handler's pool for their run, so an idle connection keeps none and a busy
// one allocates nothing per wake-up.
type writeState struct {
	items []hub.Item
	vec   net.Buffers
	// rest is what a direct write left unwritten, a tail of vec's storage.
	rest net.Buffers
	nb   netpoll.Writer
}

// maxKeptItems bounds the scratch space returned to the pool, so one burst
// does not pin a large slice for ever.
const maxKeptItems = 1024

func (c *conn) serve() {
	c.early = false
	ok := c.handshake()
	if c.connectBy != nil {
		c.connectBy.Stop()
		c.connectBy = nil // an idle connection keeps no timer
	}
	if !ok {
		c.h.poller.Forget(&c.pn)
		c.pre = nil
		c.releaseBuf()
		c.nc.Close()
		c.h.wg.Done()
		return
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if wholeText(c.pre) {
		// The client sent a command with connect, without waiting for
		// the reply (a client that subscribes at once): run it while the
		// reader still holds the writes, so that the connect reply, its
		// reply and the 101 (see head) leave in one write. Its bytes are
		// here, so this reads nothing from the socket.
		if done, fresh, err := c.readCommand(true); done && !fresh {
			c.replyNow()
			c.end(err)
			return
		}
	}
	// The connect reply, and whatever was queued before the session was
	// published here.
	c.replyNow()
	if c.pn.Raw != nil {
		if c.parkIdle() {
			return
		}
		c.read()
		return
	}
	c.readFresh()
}

// readFresh goes on reading in a new goroutine and lets the caller's end.
// Reading a frame and handling a command run deep (frame headers, token
// checks, the hub, the broker) and grow the reader's stack, which the
// runtime keeps while the goroutine stays parked; a fresh goroutine parks
// in awaitReadable with the smallest stack. Connections that can use the
// poller do not need this: their reader ends instead of waiting.
func (c *conn) readFresh() {
	go c.read()
}

// read runs the read loop until the connection ends, or until a message
// was handled: then the connection parks in the poller, which starts a new
// reader when the client sends more, or (without a poller) reading moves
// to a fresh goroutine (see readFresh).
func (c *conn) read() {
	for {
		c.releaseBuf() // before parking: the next reader takes its own
		if c.pn.Raw == nil && len(c.pre) == 0 {
			awaitReadable(c.nc)
		}
		fresh, err := c.readLoop()
		if !fresh {
			c.end(err)
			return
		}
		if c.pn.Raw == nil {
			c.readFresh()
			return
		}
		if c.parkIdle() {
			return
		}
	}
}

// parkIdle parks the connection when nothing is left to read. It reports
// false when the caller must go on reading: bytes are here (read already,
// or arrived while the reader ran: see woken), the poller could not take
// the connection, or the writer is closing the socket and the reader has
// to see that to the end.
func (c *conn) parkIdle() bool {
	for {
		c.releaseBuf()
		if len(c.pre) > 0 {
			return false
		}
		switch c.park() {
		case parked:
			return true
		case reading:
			return false
		}
		// Something arrived while the reader ran; the reader may have
		// taken it already. Take what the socket holds without waiting.
		if !c.readNow() {
			return false
		}
	}
}

// park hands the connection to the poller, registering it on first use.
// It reports parked when it did, woken when an arrival was noted while the
// reader ran (the caller looks before it parks again), and reading when
// the caller must go on reading itself.
func (c *conn) park() int32 {
	if c.closing.Load() {
		return reading
	}
	// A close the writer starts from here on finds the connection parked
	// (and starts a reader) or reading (and leaves its note).
	if !c.state.CompareAndSwap(reading, parked) {
		c.state.Store(reading)
		return woken
	}
	if !c.watched {
		// Set first: once registered, the poller may start the next
		// reader at once.
		c.watched = true
		if c.h.onEpoll != nil {
			c.h.onEpoll()
		}
		if !c.h.poller.Watch(&c.pn) {
			// Whoever takes it back from parked reads; if the writer
			// already did, this reader is done.
			if !c.state.CompareAndSwap(parked, reading) {
				return parked
			}
			c.watched = false
			return reading
		}
	}
	if c.h.onPark != nil {
		c.h.onPark()
	}
	return parked
}

// readNow reads what the socket holds, without waiting, into the reader's
// buffer. It reports whether there was nothing: false when bytes came
// (they are in c.pre) or the read failed (the read loop finds out how).
func (c *conn) readNow() bool {
	if c.rbuf == nil {
		c.rbuf = readBufs.Get().(*[]byte)
	}
	n, err := netpoll.ReadNonblock(c.pn.Raw, *c.rbuf)
	c.pre = (*c.rbuf)[:n]
	if n == 0 && err == nil {
		c.releaseBuf()
		return true
	}
	return false
}

// resume starts a reader for a parked connection, or notes the arrival for
// the reader that runs; the poller calls it when bytes arrive or the
// socket fails, and the writer before it closes the socket.
func (c *conn) resume() {
	for {
		switch c.state.Load() {
		case parked:
			if c.state.CompareAndSwap(parked, reading) {
				if c.early {
					go c.serve()
				} else {
					go c.read()
				}
				return
			}
		case reading:
			if c.state.CompareAndSwap(reading, woken) {
				if c.h.onNote != nil {
					c.h.onNote()
				}
				return
			}
		default:
			return
		}
	}
}

// end releases the connection once its reader is done with it.
func (c *conn) end(err error) {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.sess.Disconnect(err)
	}
	c.h.poller.Forget(&c.pn)
	c.pre = nil
	c.releaseBuf()
	c.cancel()
	c.sess.Close()
	c.wmu.Lock()
	c.stopped = true
	c.wmu.Unlock()
	c.flushing.Wait()
	c.nc.Close()
	c.h.wg.Done()
}

// handshake waits for connect and opens the session. It reports whether the
// connection goes on.
func (c *conn) handshake() bool {
	cfg := &c.h.cfg
	if c.connectBy == nil { // else set as the connection parked
		_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	}
	for {
		payload, limited, err := c.readMessage()
		if err != nil {
			var pe protocolError
			if errors.As(err, &pe) {
				c.writeNow(textFrame(64, func(b []byte) []byte {
					return protocol.AppendErrorReply(b, "error", 0, protocol.ErrorFor(pe.err))
				}))
				if pe.fatal {
					c.closeWith(pe.err)
					return false
				}
				continue
			}
			return false
		}
		cmd, err := protocol.DecodeCommand(payload)
		if limited {
			err = stream.ErrTooManyRequests
		} else if err == nil && cmd.Type != "connect" {
			err = stream.ErrNotConnected
		}
		if err != nil {
			c.writeNow(errorFrame(cmd, err))
			continue
		}
		id, err := transport.Authenticate(cfg.Verifier, cmd.Token)
		var sess *hub.Session
		if err == nil {
			opts := hub.SessionOptions{
				Identity:    id,
				Transport:   stream.WebSocket,
				Encoder:     wsEncoder,
				RequirePong: true,
				Wake:        c.wake,
			}
			if c.pn.Raw != nil {
				// A plain socket can take a non-blocking write from the
				// fan-out; TLS must go through its writer.
				opts.Direct = c
			}
			sess, err = cfg.Hub.NewSession(opts)
		}
		if err == nil {
			// The hub may wake the writer as soon as the session exists;
			// wake reads sess under wmu. The reader writes the connect
			// reply itself (see replyNow), and serve does.
			c.wmu.Lock()
			c.sess = sess
			c.replying = true
			c.wmu.Unlock()
		}
		if err != nil {
			c.writeNow(errorFrame(cmd, err))
			c.closeWith(err)
			return false
		}
		_ = c.nc.SetReadDeadline(time.Time{})
		// Whole seconds on the wire, rounded up so it is never 0.
		ping := int((cfg.Hub.Config().PingInterval + time.Second - 1) / time.Second)
		c.sess.Send(textFrame(64, func(b []byte) []byte {
			return protocol.AppendConnectReply(b, cmd.ID, c.sess.ID(), ping)
		}))
		return true
	}
}

// writeNow writes before the writer goroutine exists.
func (c *conn) writeNow(frame []byte) {
	c.setWriteDeadline()
	if h := c.head; h != nil {
		c.head = nil
		frame = append(h[:len(h):len(h)], frame...)
	}
	_, _ = c.nc.Write(frame)
}

// takeHead appends the 101 to vec if it has not been written yet, for the
// write about to be made. Only the connection's current writer calls it.
func (c *conn) takeHead(vec net.Buffers) net.Buffers {
	if c.head == nil {
		return vec
	}
	vec = append(vec, c.head)
	c.head = nil
	return vec
}

// wholeText reports whether b begins with a whole, unfragmented text
// frame, which the reader can take without reading the socket.
func wholeText(b []byte) bool {
	return len(b) > 0 && b[0] == 0x80|byte(opText) && wholeFrame(b)
}

// setWriteDeadline makes sure the next write has at least three quarters of
// WriteTimeout to complete. Setting a deadline costs more than a small
// write, so it is only moved once a quarter of the timeout has passed since
// it was last set, not before every write. Only the connection's current
// writer calls it.
func (c *conn) setWriteDeadline() {
	now := time.Now()
	wt := c.h.cfg.WriteTimeout
	if c.deadline != 0 && now.UnixNano()-c.deadline < int64(wt/4) {
		return
	}
	c.deadline = now.UnixNano()
	_ = c.nc.SetWriteDeadline(now.Add(wt))
}

// liftWriteDeadline clears a write deadline that may pass before the next
// write: a non-blocking write needs none, but the runtime refuses any write
// once the deadline a blocking one left behind has passed, and direct
// writes do not move it (see setWriteDeadline). The next blocking write
// sets a fresh one. Only the connection's current writer calls it.
func (c *conn) liftWriteDeadline() {
	if c.deadline == 0 {
		return
	}
	if time.Now().UnixNano()-c.deadline < int64(c.h.cfg.WriteTimeout/2) {
		return
	}
	c.deadline = 0
	_ = c.nc.SetWriteDeadline(time.Time{})
}

// closeWith tells the client why it is disconnected, then closes.
func (c *conn) closeWith(cause error) {
	d := protocol.DisconnectFor(cause)
	c.writeNow(append(textFrame(64, func(b []byte) []byte { return protocol.AppendDisconnect(b, d) }), closeFrame(d)...))
}

func errorFrame(cmd protocol.Command, err error) []byte {
	typ := cmd.Type
	if cmd.ID == 0 || typ == "" {
		typ = "error"
	}
	return textFrame(64, func(b []byte) []byte {
		return protocol.AppendErrorReply(b, typ, cmd.ID, protocol.ErrorFor(err))
	})
}

// wake starts a flush goroutine unless one is running. The hub calls it
// when the queue becomes non-empty and when the session ends.
func (c *conn) wake() {
	c.wmu.Lock()
	if c.writing || c.stopped || c.ended || c.sess == nil || c.replying {
		if c.writing {
			c.woken.Store(true)
		}
		c.wmu.Unlock()
		return
	}
	c.writing = true
	c.flushing.Add(1) // under wmu, so never after serve's Wait began
	c.wmu.Unlock()
	go c.flush()
}

// flush is the connection's only writer while it runs: it drains the queue
// into one vectored write per pass until the queue is empty, and on the
// session's end tells the client why and closes. The decision to exit is
// taken under wmu, which wake also takes, so no wake-up is lost.
func (c *conn) flush() {
	defer c.flushing.Done()
	if c.h.onFlush != nil {
		c.h.onFlush()
	}
	// Let whatever is runnable go first: a publication being fanned out
	// now joins this connection's queue before it is taken, so one write
	// carries more of them. Under load that saves many writes; on a
	// quiet node it returns at once.
	runtime.Gosched()
	ws := c.held
	c.held = nil
	if ws == nil {
		ws = c.h.writers.Get().(*writeState)
	}
	defer c.h.putWriteState(ws)
	if len(ws.rest) > 0 {
		// The rest of a direct write goes first, even to a slow client:
		// a frame cut short would garble whatever follows it.
		if !c.stuck {
			c.setWriteDeadline()
			if _, err := ws.rest.WriteTo(c.nc); err != nil {
				c.writeFailed(err)
			}
		}
		ws.rest = nil
		clear(ws.vec[:cap(ws.vec)])
		ws.vec = ws.vec[:0]
	}
	for {
		select {
		case <-c.sess.Done():
			c.finish()
			c.wmu.Lock()
			c.writing, c.ended = false, true
			c.wmu.Unlock()
			return
		default:
		}
		// Take hands ws.items' storage to the queue and returns what was
		// queued; alternating the two slices allocates nothing.
		ws.items = c.sess.Take(ws.items)
		if err := c.write(ws.items, &ws.vec); err != nil {
			c.writeFailed(err)
		}
		c.wmu.Lock()
		if !c.sess.Queued() && !isDone(c.sess) {
			c.writing = false
			c.wmu.Unlock()
			return
		}
		c.wmu.Unlock()
	}
}

var _ hub.Direct = (*conn)(nil)

// Claim reserves the connection's writes for one direct write from the
// hub's fan-out (see [hub.Direct]): only when no writer runs and nothing is
// queued, so the publication cannot overtake anything. The hub calls it
// under a channel's lock; it takes wmu, which is never held while taking a
// channel's, and reads the session's queue flag and Done without a lock.
func (c *conn) Claim() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writing || c.stopped || c.ended || c.sess == nil || c.replying || c.sess.Queued() || isDone(c.sess) {
		return false
	}
	c.writing = true
	c.woken.Store(false)
	c.flushing.Add(1) // under wmu, so never after end's Wait began
	return true
}

// WriteNow is the claimed direct write: b and whatever was queued since the
// claim, in one non-blocking writev. What the socket does not take, and
// anything queued after, is left to a flush goroutine, which blocks under
// the write deadline as usual; so does a session that ended meanwhile. A
// client whose socket stays full is thus cut by the queue limit (3002)
// as before.
func (c *conn) WriteNow(it hub.Item) { c.writeDirect(it.Bytes) }

// writeDirect is WriteNow's write, also made by the reader for its own
// replies (see replyNow): b, if any, then what is queued, without
// blocking. The caller has claimed the writes (writing, flushing).
func (c *conn) writeDirect(b []byte) {
	defer c.flushing.Done()
	ws := c.h.writers.Get().(*writeState)
	if c.woken.Load() {
		// Mostly nothing was queued: a publication to an idle connection.
		// What is queued after this look wakes the connection, which the
		// look under wmu below sees, and goes to a flush goroutine.
		ws.items = c.sess.Take(ws.items)
	} else {
		ws.items = ws.items[:0]
	}
	vec := c.takeHead(ws.vec[:0])
	if b != nil {
		vec = append(vec, b)
	}
	for _, it := range ws.items {
		vec = append(vec, it.Bytes)
	}
	ws.vec = vec
	if !c.stuck && len(vec) > 0 {
		c.liftWriteDeadline()
		n, err := ws.nb.WriteNonblock(c.pn.Raw, vec)
		if err != nil {
			c.writeFailed(err)
		} else {
			ws.rest = unwritten(vec, n)
		}
	}
	clear(ws.items)
	c.wmu.Lock()
	more := !c.stopped && !c.ended && (len(ws.rest) > 0 || c.woken.Load() && (c.sess.Queued() || isDone(c.sess)))
	if more {
		c.flushing.Add(1)
		if len(ws.rest) > 0 {
			c.held, ws = ws, nil
		}
	} else {
		c.writing = false
	}
	c.wmu.Unlock()
	if ws != nil {
		ws.rest = nil
		clear(ws.vec[:cap(ws.vec)])
		ws.vec = ws.vec[:0]
		c.h.putWriteState(ws)
	}
	if more {
		go c.flush()
	}
}

// replyNow ends what the reader began by setting replying: running
// connect, or a subscribe, whose replies it now writes itself, as the
// fan-out writes publications (writeDirect), when no writer runs. While
// replying, wake started no writer and Claim refused, so the replies cannot
// be overtaken and a connection that answers at once costs no writer
// goroutine. What the socket does not take, a TLS connection (no
// non-blocking write) and a session that ended go to a flush goroutine as
// before. Only the reader calls it.
func (c *conn) replyNow() {
	c.wmu.Lock()
	c.replying = false
	if c.writing || c.stopped || c.ended || c.sess == nil || !(c.sess.Queued() || isDone(c.sess)) {
		c.wmu.Unlock()
		return
	}
	c.writing = true
	c.woken.Store(true) // the replies are queued: writeDirect takes them
	c.flushing.Add(1)
	c.wmu.Unlock()
	if c.pn.Raw == nil || isDone(c.sess) {
		go c.flush()
		return
	}
	c.writeDirect(nil)
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

// putWriteState returns a writer's scratch space to the pool, unless one
// burst grew it too large to keep.
func (h *Handler) putWriteState(ws *writeState) {
	if cap(ws.items) > maxKeptItems {
		ws.items = nil
	}
	if cap(ws.vec) > maxKeptItems {
		ws.vec = nil
	}
	h.writers.Put(ws)
}

// write sends items in one vectored write and forgets them, so an idle
// connection keeps no publication alive.
func (c *conn) write(items []hub.Item, vec *net.Buffers) error {
	if len(items) == 0 {
		return nil
	}
	bufs := c.takeHead((*vec)[:0])
	for _, it := range items {
		bufs = append(bufs, it.Bytes)
	}
	*vec = bufs
	c.setWriteDeadline()
	var err error
	if _, ok := c.nc.(*tls.Conn); ok && len(bufs) > 1 {
		err = writeJoined(c.nc, bufs)
	} else {
		_, err = bufs.WriteTo(c.nc)
	}
	*vec = (*vec)[:0]
	clear((*vec)[:cap(*vec)])
	clear(items)
	return err
}

// joinMax is the most bytes writeJoined puts in one Write: a TLS record's
// largest payload.
const joinMax = 16 << 10

var joinBufs = sync.Pool{New: func() any { b := make([]byte, 0, joinMax); return &b }}

// writeJoined writes bufs to a connection that has no vectored write, as
// one Write per joinMax bytes rather than one per buffer: crypto/tls makes
// every Write a record of its own and a system call, so a batch of small
// frames written one by one cost a record and a system call each. A buffer
// as large as joinMax goes as it is.
func writeJoined(w io.Writer, bufs net.Buffers) error {
	bp := joinBufs.Get().(*[]byte)
	defer joinBufs.Put(bp)
	b := (*bp)[:0]
	for _, p := range bufs {
		if len(b) > 0 && len(b)+len(p) > joinMax {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
		if len(p) >= joinMax {
			if _, err := w.Write(p); err != nil {
				return err
			}
			continue
		}
		b = append(b, p...)
	}
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}

// writeFailed ends the session after a write to the client failed. A
// client whose socket did not take a write within WriteTimeout is slow
// (3002: it resumes from its position when it reconnects); the socket is
// stuck, so nothing more is written to it.
func (c *conn) writeFailed(err error) {
	c.stuck = true
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.sess.Disconnect(fmt.Errorf("%w: a write took longer than %s", stream.ErrSlowConsumer, c.h.cfg.WriteTimeout))
		return
	}
	c.sess.Disconnect(stream.ErrClosed)
}

// finish ends the connection after the session ended: what was queued goes
// out first (not for a slow consumer, whose queue is the problem), then the
// disconnect push and the close frame — unless a write already failed.
func (c *conn) finish() {
	// A parked connection has no reader to notice the close: start one.
	c.closing.Store(true)
	c.resume()
	cause := c.sess.Cause()
	if c.stuck || errors.Is(cause, stream.ErrClosed) {
		c.nc.Close()
		return
	}
	var vec net.Buffers
	if !errors.Is(cause, stream.ErrSlowConsumer) {
		_ = c.write(c.sess.Take(nil), &vec)
	}
	d := protocol.DisconnectFor(cause)
	c.setWriteDeadline()
	last := c.takeHead(nil)
	last = append(last, append(textFrame(64, func(b []byte) []byte { return protocol.AppendDisconnect(b, d) }), closeFrame(d)...))
	_, _ = last.WriteTo(c.nc)
	c.nc.Close()
}

func isDone(s *hub.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}
