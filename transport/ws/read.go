package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// protocolError is a bad frame. A fatal one ends the connection; otherwise
// the client gets an error push and the connection stays usable.
type protocolError struct {
	err   error
	fatal bool
}

func (e protocolError) Error() string { return e.err.Error() }

func badFrame(fatal bool, format string, a ...any) protocolError {
	return protocolError{err: fmt.Errorf("%w: "+format, append([]any{stream.ErrBadRequest}, a...)...), fatal: fatal}
}

// readMessage returns the payload of the next complete text message,
// answering control frames on the way. limited reports that a frame of the
// message was over the client's rate (see admit): the caller answers 110
// instead of running it.
//
// Every frame's size is checked from its header, before any of its payload
// is read: a frame declaring more than the hard cap (the larger of
// discardLimit and the frame limit) ends the connection with 3503 whatever
// its opcode; a fragmented message counts the total of its frames.
func (c *conn) readMessage() (msg []byte, limited bool, err error) {
	fragmented := false
	hardCap := max(int64(discardLimit), int64(c.h.maxFrame))
	for {
		h, err := c.readHeader()
		if err != nil {
			return nil, false, err
		}
		total := h.Length
		if h.OpCode == ws.OpContinuation {
			total += int64(len(msg))
		}
		if total > hardCap || total < 0 {
			return nil, false, tooLarge(true, total, hardCap)
		}
		if h.Rsv != 0 {
			return nil, false, badFrame(true, "reserved bits set")
		}
		if !h.Masked {
			return nil, false, badFrame(true, "client frames must be masked")
		}
		allowed, err := c.admit()
		if err != nil {
			return nil, false, err
		}
		limited = limited || !allowed
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return nil, false, badFrame(true, "invalid control frame")
			}
			payload, err := c.readPayload(h)
			if err != nil {
				return nil, false, err
			}
			switch h.OpCode {
			case ws.OpClose:
				return nil, false, io.EOF
			case ws.OpPing:
				if allowed {
					c.answer(framed(opPong, len(payload), func(b []byte) []byte { return append(b, payload...) }))
				}
			case ws.OpPong:
				if c.sess != nil {
					c.sess.Pong()
				}
			}
			continue
		}
		switch h.OpCode {
		case ws.OpContinuation:
			if !fragmented {
				return nil, false, badFrame(true, "continuation without a first frame")
			}
		case ws.OpText, ws.OpBinary:
			if fragmented {
				return nil, false, badFrame(true, "new message inside a fragmented one")
			}
		default:
			return nil, false, badFrame(true, "unknown opcode %d", h.OpCode)
		}
		if total > int64(c.h.maxFrame) {
			if !h.Fin {
				return nil, false, tooLarge(true, total, int64(c.h.maxFrame))
			}
			if err := c.discard(h.Length); err != nil {
				return nil, false, err
			}
			return nil, false, refusal(limited, tooLarge(false, total, int64(c.h.maxFrame)))
		}
		if h.OpCode == ws.OpBinary {
			if err := c.discard(h.Length); err != nil {
				return nil, false, err
			}
			if !h.Fin {
				return nil, false, badFrame(true, "fragmented binary message")
			}
			return nil, false, refusal(limited, badFrame(false, "binary frames are not supported; send JSON text frames"))
		}
		payload, err := c.readPayload(h)
		if err != nil {
			return nil, false, err
		}
		if h.Fin && !fragmented {
			return payload, limited, nil
		}
		msg = append(msg, payload...)
		fragmented = true
		if h.Fin {
			return msg, limited, nil
		}
	}
}

// tooLarge is a frame over a size limit: fatal (3503) when its payload is
// not worth reading, else answered with 112.
func tooLarge(fatal bool, size, limit int64) protocolError {
	return protocolError{err: fmt.Errorf("%w: frame of %d bytes, at most %d", stream.ErrMessageTooLarge, size, limit), fatal: fatal}
}

// refusal answers a refused frame with 110 instead of its own error when
// the frame was over the rate.
func refusal(limited bool, pe protocolError) protocolError {
	if limited {
		pe.err = stream.ErrTooManyRequests
	}
	return pe
}

// readBufSize is the buffer a reader reads the socket into: a read takes
// whatever the client sent, up to this much, at once, so a small frame
// costs one read instead of three (header, extended length and mask,
// payload), and several frames that arrived together cost one. A payload
// at least this large is read straight into its own slice.
const readBufSize = 4 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// Read reads what the client sent: first what was read past the handshake
// or buffered by an earlier read, then the socket. Only the reader calls it.
func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) == 0 {
		if len(p) >= readBufSize {
			return c.nc.Read(p)
		}
		if err := c.fill(1); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pre)
	c.pre = c.pre[n:]
	return n, nil
}

// fill reads from the socket until c.pre holds at least n bytes (n ≤
// readBufSize), into the reader's buffer, which it borrows from the pool
// until releaseBuf. Bytes already in c.pre move to the buffer's front.
func (c *conn) fill(n int) error {
	if len(c.pre) >= n {
		return nil
	}
	if c.rbuf == nil {
		c.rbuf = readBufs.Get().(*[]byte)
	}
	buf := *c.rbuf
	have := copy(buf, c.pre)
	for have < n {
		m, err := c.nc.Read(buf[have:])
		have += m
		if err != nil && have < n {
			c.pre = buf[:have]
			return err
		}
	}
	c.pre = buf[:have]
	return nil
}

// releaseBuf gives the read buffer back once nothing in it is left to
// read, so an idle connection keeps none.
func (c *conn) releaseBuf() {
	if c.rbuf == nil || len(c.pre) > 0 {
		return
	}
	readBufs.Put(c.rbuf)
	c.rbuf, c.pre = nil, nil
}

// readHeader reads a frame header (RFC 6455, 5.2), as gobwas' ReadHeader
// does but from the reader's buffer: no read of its own when the header
// arrived with what was read before, no allocation.
func (c *conn) readHeader() (ws.Header, error) {
	var h ws.Header
	if err := c.fill(2); err != nil {
		return h, unexpected(err, len(c.pre) > 0)
	}
	b0, b1 := c.pre[0], c.pre[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = (b0 & 0x70) >> 4
	h.OpCode = ws.OpCode(b0 & 0x0f)
	h.Masked = b1&0x80 != 0
	need := 2
	switch b1 & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if h.Masked {
		need += 4
	}
	if err := c.fill(need); err != nil {
		return h, unexpected(err, true)
	}
	p := c.pre[2:need]
	switch l := b1 & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(p))
		p = p[2:]
	case 127:
		if p[0]&0x80 != 0 {
			return h, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(p))
		p = p[8:]
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], p)
	}
	c.pre = c.pre[need:]
	return h, nil
}

// unexpected turns the end of input inside a header into
// io.ErrUnexpectedEOF, as io.ReadFull does.
func unexpected(err error, partial bool) error {
	if partial && errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *conn) readPayload(h ws.Header) ([]byte, error) {
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(c, payload); err != nil {
		return nil, err
	}
	ws.Cipher(payload, h.Mask, 0)
	return payload, nil
}

func (c *conn) discard(n int64) error {
	_, err := io.CopyN(io.Discard, c, n)
	return err
}

// send queues a frame once connected, or writes it directly before.
func (c *conn) send(frame []byte) {
	if c.sess != nil {
		c.sess.Send(frame)
		return
	}
	c.writeNow(frame)
}

// answer sends a pong the reader owes the client: written by the reader
// itself when no writer runs (see replyNow), queued behind whatever is
// queued otherwise.
func (c *conn) answer(frame []byte) {
	if c.sess == nil {
		c.writeNow(frame)
		return
	}
	c.wmu.Lock()
	c.replying = true
	c.wmu.Unlock()
	c.sess.Send(frame)
	c.replyNow()
}

// replyHold is how long a subscribe may keep the writer from starting
// while the reader runs it (see replyNow): long enough for one that the
// node answers from what it has, short enough that a subscribe waiting on
// a slow broker does not delay the connection's other publications.
const replyHold = 20 * time.Millisecond

// stopReplying ends the reader's hold on the writes before its command is
// done, waking the writer for what was queued meanwhile.
func (c *conn) stopReplying() {
	c.wmu.Lock()
	held := c.replying
	c.replying = false
	queued := c.sess != nil && (c.sess.Queued() || isDone(c.sess))
	c.wmu.Unlock()
	if held && queued {
		c.wake()
	}
}

// readLoop reads commands until the connection ends, or until it handled
// one (fresh is then true: see conn.readFresh). A
// fatal protocol error ends the session with its cause, which the writer
// reports to the client.
func (c *conn) readLoop() (fresh bool, err error) {
	for {
		if done, fresh, err := c.readCommand(false); done {
			return fresh, err
		}
	}
}

// readCommand reads one message and runs it. done is false when the
// message was refused with an error reply (the loop reads on); otherwise
// fresh and err are readLoop's. ahead says the reader holds the writes
// for the connect reply (see serve): the command runs as a subscribe
// does, with its reply written with the held ones.
func (c *conn) readCommand(ahead bool) (done, fresh bool, err error) {
	payload, limited, err := c.readMessage()
	if err != nil {
		var pe protocolError
		if !errors.As(err, &pe) {
			return true, false, err
		}
		if pe.fatal {
			c.sess.Disconnect(pe.err)
			return true, false, nil
		}
		c.send(errorFrame(protocol.Command{}, pe.err))
		return false, false, nil
	}
	c.sess.Pong() // any traffic shows the client is alive
	cmd, err := protocol.DecodeCommand(payload)
	switch {
	case limited:
		c.send(errorFrame(cmd, stream.ErrTooManyRequests))
		return false, false, nil
	case err != nil:
		c.send(errorFrame(cmd, err))
		return false, false, nil
	case cmd.Type == "pong":
		return true, true, nil
	}
	if cmd.Type == "subscribe" || ahead {
		// Its reply (and any replay) is written here, when the
		// command is done: see replyNow. A command that waits on
		// the broker longer than replyHold lets the writer go on
		// meanwhile, so the connection's other channels (and the
		// connect reply) are not held back (the queue keeps the order
		// either way).
		c.wmu.Lock()
		c.replying = true
		c.wmu.Unlock()
		hold := time.AfterFunc(replyHold, c.stopReplying)
		c.handle(cmd)
		hold.Stop()
		c.replyNow()
		return true, true, nil
	}
	c.handle(cmd)
	return true, true, nil
}
