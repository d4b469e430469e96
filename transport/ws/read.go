package ws

import (
	"errors"
	"fmt"
	"io"

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
		h, err := ws.ReadHeader(c)
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
					c.send(framed(opPong, len(payload), func(b []byte) []byte { return append(b, payload...) }))
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

// readLoop reads commands until the connection ends, or until it handled
// one (fresh is then true: see conn.readFresh). A
// fatal protocol error ends the session with its cause, which the writer
// reports to the client.
func (c *conn) readLoop() (fresh bool, err error) {
	for {
		payload, limited, err := c.readMessage()
		if err != nil {
			var pe protocolError
			if !errors.As(err, &pe) {
				return false, err
			}
			if pe.fatal {
				c.sess.Disconnect(pe.err)
				return false, nil
			}
			c.send(errorFrame(protocol.Command{}, pe.err))
			continue
		}
		c.sess.Pong() // any traffic shows the client is alive
		cmd, err := protocol.DecodeCommand(payload)
		switch {
		case limited:
			c.send(errorFrame(cmd, stream.ErrTooManyRequests))
			continue
		case err != nil:
			c.send(errorFrame(cmd, err))
			continue
		case cmd.Type == "pong":
			return true, nil
		}
		c.handle(cmd)
		return true, nil
	}
}
