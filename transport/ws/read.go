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
// answering control frames on the way.
func (c *conn) readMessage() ([]byte, error) {
	var msg []byte
	fragmented := false
	for {
		h, err := ws.ReadHeader(c)
		if err != nil {
			return nil, err
		}
		if h.Rsv != 0 {
			return nil, badFrame(true, "reserved bits set")
		}
		if !h.Masked {
			return nil, badFrame(true, "client frames must be masked")
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return nil, badFrame(true, "invalid control frame")
			}
			payload, err := c.readPayload(h)
			if err != nil {
				return nil, err
			}
			switch h.OpCode {
			case ws.OpClose:
				return nil, io.EOF
			case ws.OpPing:
				c.send(framed(opPong, len(payload), func(b []byte) []byte { return append(b, payload...) }))
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
				return nil, badFrame(true, "continuation without a first frame")
			}
		case ws.OpText, ws.OpBinary:
			if fragmented {
				return nil, badFrame(true, "new message inside a fragmented one")
			}
			if h.OpCode == ws.OpBinary {
				if err := c.discard(h.Length); err != nil {
					return nil, err
				}
				if !h.Fin {
					return nil, badFrame(true, "fragmented binary message")
				}
				return nil, badFrame(false, "binary frames are not supported; send JSON text frames")
			}
		default:
			return nil, badFrame(true, "unknown opcode %d", h.OpCode)
		}
		if int64(len(msg))+h.Length > int64(c.h.maxFrame) {
			total := int64(len(msg)) + h.Length
			if total > discardLimit || !h.Fin {
				return nil, protocolError{err: fmt.Errorf("%w: frame of %d bytes", stream.ErrMessageTooLarge, total), fatal: true}
			}
			if err := c.discard(h.Length); err != nil {
				return nil, err
			}
			return nil, protocolError{err: fmt.Errorf("%w: frame of %d bytes, at most %d", stream.ErrMessageTooLarge, total, c.h.maxFrame)}
		}
		payload, err := c.readPayload(h)
		if err != nil {
			return nil, err
		}
		if h.Fin && !fragmented {
			return payload, nil
		}
		msg = append(msg, payload...)
		fragmented = true
		if h.Fin {
			return msg, nil
		}
	}
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
		payload, err := c.readMessage()
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
		if err != nil {
			c.send(errorFrame(cmd, err))
			continue
		}
		if cmd.Type == "pong" {
			return true, nil
		}
		if !c.sess.Allow() {
			c.send(errorFrame(cmd, stream.ErrTooManyRequests))
			continue
		}
		c.handle(cmd)
		return true, nil
	}
}
