package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// loop is Run's body: connect, serve, back off, again.
func (c *Client) loop(ctx context.Context) error {
	bo := newBackoff(c.opts.MinBackoff, c.opts.MaxBackoff)
	for {
		c.setState(State{Status: Connecting})
		cn, i, err := c.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			start := time.Now()
			err = c.serve(ctx, cn, i)
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(start) >= c.opts.StableAfter {
				bo.reset()
			}
			c.log.Debug("connection ended", "transport", cn.transport(), "err", err)
		}
		switch classify(err) {
		case failStop:
			c.log.Warn("the node asked not to reconnect", "err", err)
			return err
		case failToken:
			if terr := c.expired(""); terr != nil {
				return terr
			}
		}
		c.setState(State{Status: Disconnected, Err: err})
		if !sleep(ctx, bo.next()) {
			return nil
		}
	}
}

// conn is one open connection over one transport. The client opens it
// (which includes waiting for the node's first frame), then calls run once.
type conn interface {
	transport() Transport
	// run serves the connection until it ends or ctx does, and says why
	// it ended. Subscriptions are taken from the client, at the start and
	// after every kick.
	run(ctx context.Context) error
	// kick says the client's subscriptions changed. It never blocks.
	kick()
	// close releases the connection. It is safe at any time, also after
	// run returned, and for a connection whose run was never called.
	close()
}

// connect opens a transport, starting with the one that worked last and
// moving down the list (and round to the better ones) when one fails as a
// transport. A node that answers but refuses is not a transport failure:
// the others would be refused too, so connect returns at once.
func (c *Client) connect(ctx context.Context) (conn, int, error) {
	n := len(c.opts.Transports)
	var errs []error
	renewed := false
	for k := 0; k < n; k++ {
		i := (c.preferred + k) % n
		t := c.opts.Transports[i]
		c.setState(State{Status: Connecting, Transport: t})
		cn, err := c.open(ctx, t)
		if err == nil {
			if i != c.preferred {
				c.log.Info("transport changed", "from", c.opts.Transports[c.preferred], "to", t)
			}
			c.preferred = i
			return cn, i, nil
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		switch classify(err) {
		case failTransport:
			c.log.Debug("transport failed", "transport", t, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
			continue
		case failToken:
			if renewed {
				return nil, i, err
			}
			if terr := c.expired(""); terr != nil {
				return nil, i, terr
			}
			renewed = true
			k-- // the same transport again, with the fresh token
			continue
		}
		return nil, i, err
	}
	return nil, 0, errors.Join(errs...)
}

// open opens transport t, up to its first frame.
func (c *Client) open(ctx context.Context, t Transport) (conn, error) {
	switch t {
	case WebSocket:
		return c.openWS(ctx)
	case SSE:
		return c.openSSE(ctx)
	case GRPC:
		return c.openGRPC(ctx)
	default:
		return c.openPoll(ctx, t)
	}
}

// serve runs cn until it ends, and meanwhile, when cn is not the best
// transport, tries the better ones every UpgradeInterval: one that opens
// replaces cn. A network that once blocked WebSocket may not any more.
func (c *Client) serve(ctx context.Context, cn conn, i int) error {
	for {
		c.setConn(cn)
		c.setState(State{Status: Connected, Transport: cn.transport()})
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cn.run(sctx) }()

		better, j := c.watch(ctx, i, done)
		cancel()
		err := <-done
		c.setConn(nil)
		cn.close()
		if better == nil {
			return err
		}
		c.log.Info("transport upgraded", "from", cn.transport(), "to", better.transport())
		cn, i = better, j
		c.preferred = j
	}
}

// watch waits for the connection to end (done, which it leaves for the
// caller to receive) or for a better transport to open, which it returns.
func (c *Client) watch(ctx context.Context, i int, done chan error) (conn, int) {
	if i == 0 || c.opts.UpgradeInterval < 0 {
		select {
		case err := <-done:
			done <- err
		case <-ctx.Done():
		}
		return nil, 0
	}
	t := time.NewTimer(c.opts.UpgradeInterval)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			done <- err
			return nil, 0
		case <-ctx.Done():
			return nil, 0
		case <-t.C:
		}
		for j := range i {
			cn, err := c.open(ctx, c.opts.Transports[j])
			if err == nil {
				return cn, j
			}
			c.log.Debug("upgrade failed", "transport", c.opts.Transports[j], "err", err)
		}
		t.Reset(c.opts.UpgradeInterval)
	}
}

// Status is where the client's connection is.
type Status int

const (
	// Disconnected: not running, between two connections (waiting out
	// the backoff), or done.
	Disconnected Status = iota
	// Connecting: opening a transport.
	Connecting
	// Connected: a transport is open; subscriptions are being served.
	Connected
)

func (s Status) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// State is the client's connection state, as State returns it and
// Options.OnState receives it.
type State struct {
	Status Status
	// Transport is the transport open (Connected) or being opened
	// (Connecting).
	Transport Transport
	// Err says why the client is Disconnected: the end of the last
	// connection or the failure of the last attempt; ErrClosed once Run
	// has returned after its context ended. Nil before Run.
	Err error
}

// String returns "connecting(sse)", "connected(websocket)" or
// "disconnected(<reason>)".
func (s State) String() string {
	switch {
	case s.Status == Disconnected && s.Err != nil:
		return fmt.Sprintf("disconnected(%v)", s.Err)
	case s.Status != Disconnected && s.Transport != "":
		return fmt.Sprintf("%s(%s)", s.Status, s.Transport)
	}
	return s.Status.String()
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// setState records and reports a new state. Only Run's goroutine changes the
// state, so OnState sees every change in order without a queue.
func (c *Client) setState(s State) {
	c.mu.Lock()
	old := c.state
	if s.Status != Disconnected && old.Status == s.Status && old.Transport == s.Transport {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.signalLocked()
	c.mu.Unlock()
	c.log.Debug("state", "state", s.String())
	if c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

// signalLocked wakes everyone waiting for a change of state or connection;
// c.mu must be held.
func (c *Client) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
