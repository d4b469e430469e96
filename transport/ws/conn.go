package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
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
	h   *Handler
	nc  net.Conn
	pre []byte // bytes read past the handshake

	sess   *hub.Session
	ctx    context.Context
	cancel context.CancelFunc

	// The writer goroutine exists only while there is something to write:
	// an idle connection costs no goroutine beyond its reader. wmu guards
	// writing, stopped and ended; flushing counts flush goroutines.
	wmu      sync.Mutex
	writing  bool
	stopped  bool // serve is done: no new flush goroutine
	ended    bool // the disconnect was written and the socket closed
	flushing sync.WaitGroup

	// deadline is when the write deadline was last set (unix nanoseconds),
	// owned by whoever writes; see setWriteDeadline.
	deadline int64
}

// writeState is a writer's scratch space: the items taken from the queue and
// the vector handed to writev. Flush goroutines borrow one from the
// handler's pool for their run, so an idle connection keeps none and a busy
// one allocates nothing per wake-up.
type writeState struct {
	items []hub.Item
	vec   net.Buffers
}

// maxKeptItems bounds the scratch space returned to the pool, so one burst
// does not pin a large slice for ever.
const maxKeptItems = 1024

func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.nc.Read(p)
}

func (c *conn) serve() {
	if !c.handshake() {
		c.nc.Close()
		return
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wake() // whatever was queued before the session was published here
	c.readFresh()
}

// readFresh goes on reading in a new goroutine and lets the caller's end.
// Reading a frame and handling a command run deep (frame headers, token
// checks, the hub, the broker) and grow the reader's stack, which the
// runtime keeps while the goroutine stays parked; a fresh goroutine parks
// in awaitReadable with the smallest stack. The reader of an idle
// connection is most of what the connection costs, and a goroutine start
// per client message (a pong every ping interval) is cheap beside it.
func (c *conn) readFresh() {
	c.h.wg.Add(1)
	go func() {
		defer c.h.wg.Done()
		c.read()
	}()
}

// read waits for the client, then runs the read loop until the connection
// ends, or until a message was handled: then reading moves to a fresh
// goroutine (see readFresh).
func (c *conn) read() {
	if len(c.pre) == 0 {
		awaitReadable(c.nc)
	}
	fresh, err := c.readLoop()
	if fresh {
		c.readFresh()
		return
	}
	defer c.nc.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.sess.Disconnect(err)
	}
	c.cancel()
	c.sess.Close()
	c.wmu.Lock()
	c.stopped = true
	c.wmu.Unlock()
	c.flushing.Wait()
}

// handshake waits for connect and opens the session. It reports whether the
// connection goes on.
func (c *conn) handshake() bool {
	cfg := &c.h.cfg
	_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	for {
		payload, err := c.readMessage()
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
		if err == nil && cmd.Type != "connect" {
			err = stream.ErrNotConnected
		}
		if err != nil {
			c.writeNow(errorFrame(cmd, err))
			continue
		}
		id, err := transport.Authenticate(cfg.Verifier, cmd.Token)
		var sess *hub.Session
		if err == nil {
			sess, err = cfg.Hub.NewSession(hub.SessionOptions{
				Identity:    id,
				Transport:   "ws",
				Encoder:     wsEncoder,
				RequirePong: true,
				Wake:        c.wake,
			})
		}
		if err == nil {
			// The hub may wake the writer as soon as the session exists;
			// wake reads sess under wmu, and serve wakes it once more below.
			c.wmu.Lock()
			c.sess = sess
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
	_, _ = c.nc.Write(frame)
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
	if c.writing || c.stopped || c.ended || c.sess == nil {
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
	// Let whatever is runnable go first: a publication being fanned out
	// now joins this connection's queue before it is taken, so one write
	// carries more of them. Under load this halves the writes per
	// delivery; on a quiet node it returns at once.
	runtime.Gosched()
	ws := c.h.writers.Get().(*writeState)
	defer func() {
		if cap(ws.items) > maxKeptItems {
			ws.items = nil
		}
		if cap(ws.vec) > maxKeptItems {
			ws.vec = nil
		}
		c.h.writers.Put(ws)
	}()
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
			c.sess.Disconnect(stream.ErrClosed)
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

// write sends items in one vectored write and forgets them, so an idle
// connection keeps no publication alive.
func (c *conn) write(items []hub.Item, vec *net.Buffers) error {
	if len(items) == 0 {
		return nil
	}
	bufs := (*vec)[:0]
	for _, it := range items {
		bufs = append(bufs, it.Bytes)
	}
	*vec = bufs
	c.setWriteDeadline()
	_, err := bufs.WriteTo(c.nc)
	*vec = (*vec)[:0]
	clear((*vec)[:cap(*vec)])
	clear(items)
	return err
}

// finish ends the connection after the session ended: what was queued goes
// out first (not for a slow consumer, whose queue is the problem), then the
// disconnect push and the close frame.
func (c *conn) finish() {
	cause := c.sess.Cause()
	if errors.Is(cause, stream.ErrClosed) {
		c.nc.Close()
		return
	}
	var vec net.Buffers
	if !errors.Is(cause, stream.ErrSlowConsumer) {
		_ = c.write(c.sess.Take(nil), &vec)
	}
	d := protocol.DisconnectFor(cause)
	c.setWriteDeadline()
	_, _ = c.nc.Write(append(textFrame(64, func(b []byte) []byte { return protocol.AppendDisconnect(b, d) }), closeFrame(d)...))
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
