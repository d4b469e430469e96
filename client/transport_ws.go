package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// errSilent is a connection that stayed quiet longer than the node's pings
// allow: the network dropped it without telling either end.
var errSilent = errors.New("no ping from the node")

// wsConn is a WebSocket connection speaking protocol v1. Its reader
// goroutine handles every frame; run's goroutine sends the subscribe and
// unsubscribe commands; Publish and History send theirs from the caller's
// goroutine (wsclient serializes writes).
type wsConn struct {
	c     *Client
	ws    *wsclient.Conn
	ping  time.Duration
	kickc chan struct{}
	done  chan struct{} // closed when the connection has ended

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]func(protocol.Frame)
	subs    map[string]*wsSub
	ended   bool
	discon  *protocol.Disconnect // the node's disconnect frame, before the close
}

// wsSub is one subscription as this connection knows it.
type wsSub struct {
	sub       *Subscription
	confirmed bool
	// retryAt is set when the node refused the subscribe for a reason
	// that may pass: subscribe again then.
	retryAt  time.Time
	failures int
}

var _ conn = (*wsConn)(nil)

// openWS dials, sends connect and waits for its reply: the first frame.
func (c *Client) openWS(ctx context.Context) (conn, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	ws, _, err := wsclient.Dial(octx, c.eps.WebSocket, wsclient.Options{Header: c.opts.Header, DialContext: c.opts.Dial})
	if err != nil {
		return nil, err
	}
	nc := ws.NetConn()
	dl, _ := octx.Deadline()
	_ = nc.SetDeadline(dl)
	unblock := context.AfterFunc(octx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	w := &wsConn{
		c: c, ws: ws,
		kickc:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[uint64]func(protocol.Frame)),
		subs:    make(map[string]*wsSub),
		nextID:  1,
	}
	f, err := w.connect(tok)
	if !unblock() && err == nil {
		err = octx.Err() // the deadline passed as the reply came
	}
	if err != nil {
		ws.Close()
		if octx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("no connect reply within %s: %w", c.opts.OpenTimeout, err)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	w.ping = time.Duration(f.PingInterval) * time.Second
	if w.ping <= 0 {
		w.ping = defaultPingInterval
	}
	c.pingInterval.Store(int64(w.ping))
	c.log.Debug("websocket connected", "client", f.Client, "ping", w.ping)
	return w, nil
}

// connect sends the connect command and reads its reply.
func (w *wsConn) connect(token string) (protocol.Frame, error) {
	if err := w.send(protocol.Command{Type: protocol.TypeConnect, ID: 1, Token: token}); err != nil {
		return protocol.Frame{}, err
	}
	for {
		f, err := w.read()
		if err != nil {
			return f, err
		}
		switch {
		case f.Type == protocol.TypeConnect && f.ID == 1:
			if f.Error != nil {
				return f, *f.Error
			}
			return f, nil
		case f.Type == protocol.TypeDisconnect:
			return f, protocol.Disconnect{Code: f.Code, Reason: f.Reason, Reconnect: f.Reconnect}
		case f.Error != nil:
			return f, *f.Error
		}
	}
}

// read returns the next text frame, decoded.
func (w *wsConn) read() (protocol.Frame, error) {
	for {
		op, payload, err := w.ws.ReadMessage()
		if err != nil {
			if ce, ok := errors.AsType[*wsclient.CloseError](err); ok && ce.Code >= 3000 && ce.Code < 4000 {
				return protocol.Frame{}, protocol.Disconnect{Code: uint32(ce.Code), Reason: ce.Reason, Reconnect: ce.Code < 3500}
			}
			return protocol.Frame{}, err
		}
		if op != wsclient.OpText {
			continue
		}
		f, err := protocol.DecodeFrame(payload)
		if err != nil {
			w.c.log.Warn("unreadable frame from the node", "err", err)
			continue
		}
		return f, nil
	}
}

func (w *wsConn) transport() Transport { return WebSocket }

func (w *wsConn) kick() {
	select {
	case w.kickc <- struct{}{}:
	default:
	}
}

func (w *wsConn) close() { _ = w.ws.Close() }

func (w *wsConn) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, w.goodbye)
	defer stop()
	read := make(chan error, 1)
	go func() { read <- w.readLoop() }()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	w.reconcile(retry)
	for {
		select {
		case err := <-read:
			w.end()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-w.kickc:
			w.reconcile(retry)
		case <-retry.C:
			w.reconcile(retry)
		}
	}
}

// goodbye closes the connection the polite way, so the node ends the
// session at once rather than when its next ping goes unanswered.
func (w *wsConn) goodbye() {
	nc := w.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = w.ws.WriteFrame(wsclient.OpClose, binary.BigEndian.AppendUint16(nil, 1000))
	_ = w.ws.Close()
}

// end fails every command still waiting for a reply.
func (w *wsConn) end() {
	w.mu.Lock()
	w.ended = true
	w.pending = nil
	w.mu.Unlock()
	close(w.done)
}

// readLoop handles frames until the connection ends. A connection silent for
// longer than the ping interval and the grace is dead.
func (w *wsConn) readLoop() error {
	nc := w.ws.NetConn()
	silence := w.ping + w.c.opts.PingGrace
	for {
		_ = nc.SetReadDeadline(time.Now().Add(silence))
		f, err := w.read()
		if err != nil {
			w.mu.Lock()
			d := w.discon
			w.mu.Unlock()
			if d != nil {
				return *d // it says more than the close that follows it
			}
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				return fmt.Errorf("%w for %s", errSilent, silence)
			}
			return err
		}
		w.handle(f)
	}
}

func (w *wsConn) handle(f protocol.Frame) {
	if f.ID != 0 {
		w.mu.Lock()
		reply := w.pending[f.ID]
		delete(w.pending, f.ID)
		w.mu.Unlock()
		if reply != nil {
			reply(f)
		}
		return
	}
	switch f.Type {
	case protocol.TypeMessage:
		w.mu.Lock()
		e := w.subs[f.Channel]
		w.mu.Unlock()
		// Before the subscribe reply, a message belongs to an earlier
		// subscription to the channel, unsubscribed since.
		if e != nil && e.confirmed {
			e.sub.deliver(f.Publication())
		}
	case protocol.TypeGap:
		w.mu.Lock()
		e := w.subs[f.Channel]
		w.mu.Unlock()
		if e != nil && e.confirmed {
			e.sub.epochChanged(f.Epoch)
		}
	case protocol.TypeJoin, protocol.TypeLeave:
		w.c.presenceFrame(f)
	case protocol.TypePing:
		_ = w.send(protocol.Command{Type: protocol.TypePong})
	case protocol.TypeDisconnect:
		d := protocol.Disconnect{Code: f.Code, Reason: f.Reason, Reconnect: f.Reconnect}
		w.mu.Lock()
		w.discon = &d
		w.mu.Unlock()
	case protocol.TypeUnsubscribed:
		w.mu.Lock()
		e := w.subs[f.Channel]
		delete(w.subs, f.Channel)
		w.mu.Unlock()
		if e != nil {
			w.c.refuse(e.sub, protocol.Error{Code: f.Code, Message: f.Reason})
		}
	case protocol.TypeError:
		w.c.log.Warn("the node reported an error", "err", f.Error)
	}
}

// reconcile brings the node's subscriptions in line with the client's:
// subscribe what is new (from its position), unsubscribe what is gone, and
// retry what was refused for a while.
func (w *wsConn) reconcile(retry *time.Timer) {
	want := w.c.subscriptions()
	now := time.Now()
	var next time.Time
	var cmds []protocol.Command
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	for ch, e := range w.subs {
		if want[ch] == e.sub {
			continue
		}
		delete(w.subs, ch)
		if e.retryAt.IsZero() { // the node has it, or will once it reads the subscribe
			cmds = append(cmds, w.commandLocked(protocol.Command{Type: protocol.TypeUnsubscribe, Channel: ch}, nil))
		}
	}
	for ch, s := range want {
		e := w.subs[ch]
		switch {
		case e == nil:
			e = &wsSub{sub: s}
			w.subs[ch] = e
		case e.retryAt.IsZero():
			continue
		case now.Before(e.retryAt):
			if next.IsZero() || e.retryAt.Before(next) {
				next = e.retryAt
			}
			continue
		}
		e.retryAt = time.Time{}
		since := s.since()
		cmds = append(cmds, w.commandLocked(protocol.Command{Type: protocol.TypeSubscribe, Channel: ch, Since: since},
			func(f protocol.Frame) { w.subscribed(e, since, f) }))
	}
	w.mu.Unlock()
	for _, cmd := range cmds {
		if w.send(cmd) != nil {
			return // the reader sees the connection end
		}
	}
	if !next.IsZero() {
		retry.Reset(time.Until(next))
	}
}

// subscribed handles a subscribe reply.
func (w *wsConn) subscribed(e *wsSub, since *stream.Position, f protocol.Frame) {
	w.mu.Lock()
	if w.subs[e.sub.channel] != e {
		w.mu.Unlock()
		return // unsubscribed meanwhile
	}
	if f.Error != nil {
		err := *f.Error
		if channelRefused(err) {
			delete(w.subs, e.sub.channel)
			w.mu.Unlock()
			w.c.refuse(e.sub, err)
			return
		}
		e.failures++
		b := newBackoff(w.c.opts.MinBackoff, w.c.opts.MaxBackoff)
		b.setAttempts(e.failures)
		e.retryAt = time.Now().Add(max(b.next(), w.c.opts.MinBackoff))
		w.mu.Unlock()
		e.sub.fail(err)
		w.kick() // run arms the retry timer
		return
	}
	e.confirmed, e.failures = true, 0
	w.mu.Unlock()
	latest := stream.Position{Epoch: f.Epoch, Offset: f.Offset}
	start := latest
	if since != nil && f.Recovered {
		start = *since
	}
	e.sub.confirm(f.Recovered, latest, start, true)
}

// commandLocked numbers cmd and registers what to do with its reply (nil:
// nothing); w.mu must be held.
func (w *wsConn) commandLocked(cmd protocol.Command, reply func(protocol.Frame)) protocol.Command {
	w.nextID++
	cmd.ID = w.nextID
	if reply != nil {
		w.pending[cmd.ID] = reply
	}
	return cmd
}

func (w *wsConn) send(cmd protocol.Command) error {
	_ = w.ws.NetConn().SetWriteDeadline(time.Now().Add(w.c.opts.RequestTimeout))
	return w.ws.WriteText(protocol.AppendCommand(nil, cmd))
}

// call sends a command and waits for its reply. A connection that ends
// first is errConnLost: the command may or may not have been done.
func (w *wsConn) call(ctx context.Context, cmd protocol.Command) (protocol.Frame, error) {
	replies := make(chan protocol.Frame, 1)
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return protocol.Frame{}, errConnLost
	}
	cmd = w.commandLocked(cmd, func(f protocol.Frame) { replies <- f })
	w.mu.Unlock()
	forget := func() {
		w.mu.Lock()
		delete(w.pending, cmd.ID)
		w.mu.Unlock()
	}
	if err := w.send(cmd); err != nil {
		forget()
		return protocol.Frame{}, fmt.Errorf("%w: %w", errConnLost, err)
	}
	var f protocol.Frame
	select {
	case f = <-replies:
	case <-w.done:
		select {
		case f = <-replies:
		default:
			return protocol.Frame{}, errConnLost
		}
	case <-ctx.Done():
		forget()
		return protocol.Frame{}, ctx.Err()
	}
	if f.Error != nil {
		return f, *f.Error
	}
	return f, nil
}
