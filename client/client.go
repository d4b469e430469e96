package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/stream"
)

// Client is a connection to a Switchboard node that survives the network:
// it reconnects, falls back to other transports, and resumes every
// subscription from its position. Build it with New, subscribe, and call Run.
//
// Its methods are safe for concurrent use.
type Client struct {
	opts   Options
	eps    Endpoints
	log    *slog.Logger
	http   *http.Client
	ownsHC bool // http is the client's own: close its idle connections at the end
	// grpc calls the node's ClientService over grpcHTTP, an HTTP/2 client
	// of the client's own.
	grpc     switchboardv1connect.ClientServiceClient
	grpcHTTP *http.Client

	mu      sync.Mutex
	subs    map[string]*Subscription
	conn    conn // the connection being served; nil between connections
	state   State
	running bool
	closed  bool
	changed chan struct{} // closed and replaced when any of the above changes

	// preferred is the index in Options.Transports of the transport that
	// last worked: the next connection starts there. Only Run's goroutine
	// touches it.
	preferred int

	tokMu      sync.Mutex
	tok        string
	tokStale   bool
	tokFetched bool

	// pollClient is the client id the node gave the last poll answer; the
	// next polls send it back, so presence counts one client, not one per
	// poll.
	pollClient atomic.Pointer[string]

	// pingInterval is the node's ping interval, as the last WebSocket
	// connection told it; SSE streams use it to notice silence.
	pingInterval atomic.Int64
}

// New returns a client for the node at url (such as
// "https://rt.example.com"), ready to Subscribe, Publish and Run. The
// endpoints of the transports are derived from url (see Endpoints). It
// returns an error, and no Client, for a url that is not an absolute http,
// https, ws or wss URL, or for bad options (an unknown transport, or one
// listed twice).
func New(url string, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	eps, err := endpoints(url, o.Endpoints)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:    o,
		eps:     eps,
		log:     o.Logger,
		subs:    make(map[string]*Subscription),
		changed: make(chan struct{}),
	}
	c.http = c.opts.HTTPClient
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if c.opts.Dial != nil {
			tr.DialContext = c.opts.Dial
		}
		c.http = &http.Client{Transport: tr}
		c.ownsHC = true
	}
	c.grpc, c.grpcHTTP = newGRPC(c.opts, eps.GRPC)
	c.tok = c.opts.Token
	c.pingInterval.Store(int64(defaultPingInterval))
	return c, nil
}

// Run connects and keeps the client connected until ctx ends, then returns
// nil. It returns an error when it cannot go on: the node said not to
// reconnect (a protocol.Disconnect with Reconnect false, such as a revoked
// token), refused the token (a protocol.Error with code 101), or the token
// expired with no Options.GetToken to renew it.
// When Run returns, every subscription ends with Unsubscribed{Err:
// ErrClosed}. Run may be called once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running || c.closed {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	c.signalLocked()
	c.mu.Unlock()

	err := c.loop(ctx)
	c.shutdown(err)
	return err
}

// shutdown ends every subscription and releases what Run held.
func (c *Client) shutdown(err error) {
	c.mu.Lock()
	c.closed = true
	c.conn = nil
	subs := c.subs
	c.subs = make(map[string]*Subscription)
	c.mu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	if err == nil {
		err = ErrClosed
	}
	c.setState(State{Status: Disconnected, Err: err})
	if c.ownsHC {
		c.http.CloseIdleConnections()
	}
	c.grpcHTTP.CloseIdleConnections()
}

// setConn makes cn the connection subscriptions, publishes and history go
// through (nil: none).
func (c *Client) setConn(cn conn) {
	c.mu.Lock()
	c.conn = cn
	c.signalLocked()
	c.mu.Unlock()
}

// await waits until ready reports true under c.mu, or ctx ends, or Run has
// returned.
func (c *Client) await(ctx context.Context, ready func() bool) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if ready() {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tokenError is a failure of Options.GetToken: the node is not at fault, so
// it is retried with backoff on the same transport.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "client: GetToken: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// token returns the token to connect or publish with, asking GetToken for a
// fresh one when the last has expired (or none was ever had).
func (c *Client) token(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.opts.GetToken != nil && (c.tokStale || (c.tok == "" && !c.tokFetched)) {
		t, err := c.opts.GetToken(ctx)
		if err != nil {
			return "", &tokenError{err}
		}
		c.tok, c.tokStale, c.tokFetched = t, false, true
		c.log.Debug("token renewed")
	}
	return c.tok, nil
}

// expired records that the node refused used as expired ("" for whichever
// token is current), so the next token call renews it. Without GetToken
// nothing can be renewed: it returns the error that stops Run.
func (c *Client) expired(used string) error {
	if c.opts.GetToken == nil {
		return fmt.Errorf("client: the token expired and Options.GetToken is not set: %w", stream.ErrTokenExpired)
	}
	c.tokMu.Lock()
	if used == "" || used == c.tok {
		c.tokStale = true
	}
	c.tokMu.Unlock()
	return nil
}
