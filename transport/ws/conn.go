package ws

import (
	"context"
	"errors"
	"io"
	"net"
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
	writer sync.WaitGroup
}

func (c *conn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.nc.Read(p)
}

func (c *conn) serve() {
	defer c.nc.Close()
	if !c.handshake() {
		return
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.writer.Add(1)
	go func() {
		defer c.writer.Done()
		c.writeLoop()
	}()
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.sess.Disconnect(err)
	}
	c.cancel()
	c.sess.Close()
	c.writer.Wait()
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
		if err == nil {
			c.sess, err = cfg.Hub.NewSession(hub.SessionOptions{
				Identity:    id,
				Transport:   "ws",
				Encoder:     wsEncoder,
				RequirePong: true,
			})
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
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
	_, _ = c.nc.Write(frame)
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

// writeLoop is the connection's only writer once connected: it drains the
// session queue into one vectored write per wake-up, and on the session's
// end tells the client why and closes.
func (c *conn) writeLoop() {
	var (
		items, spare []hub.Item
		vec          net.Buffers
		backing      [][]byte
	)
	write := func() error {
		items = c.sess.Take(spare)
		if len(items) == 0 {
			spare = items
			return nil
		}
		backing = backing[:0]
		for _, it := range items {
			backing = append(backing, it.Bytes)
		}
		vec = backing
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
		_, err := vec.WriteTo(c.nc)
		clear(backing)
		spare = items
		return err
	}
	for {
		select {
		case <-c.sess.Ready():
			if err := write(); err != nil {
				c.sess.Disconnect(stream.ErrClosed)
				c.nc.Close()
				return
			}
		case <-c.sess.Done():
			cause := c.sess.Cause()
			if errors.Is(cause, stream.ErrClosed) {
				c.nc.Close()
				return
			}
			if !errors.Is(cause, stream.ErrSlowConsumer) {
				_ = write() // flush what was queued before the end
			}
			d := protocol.DisconnectFor(cause)
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
			_, _ = c.nc.Write(append(textFrame(64, func(b []byte) []byte { return protocol.AppendDisconnect(b, d) }), closeFrame(d)...))
			c.nc.Close()
			return
		}
	}
}
