package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/transport"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// headBufSize is the buffer a new connection's request head is read into:
// enough for a browser's upgrade with a few cookies. A longer head goes to
// net/http, which allows far more.
const headBufSize = 4 << 10

var headBufs = sync.Pool{New: func() any { b := make([]byte, headBufSize); return &b }}

// directListener serves WebSocket upgrades without net/http and hands every
// other connection to net/http (its Accept is http.Server's listener).
//
// Each accepted connection gets a goroutine that completes the TLS
// handshake, if any, and reads the request head into a pooled buffer. A
// plain upgrade to the WebSocket endpoint is answered there and then
// (ws.Handler.ServeHead): no http.Request, no header map, none of the 4 KB
// read and write buffers net/http gives a connection and a hijack drops,
// one goroutine fewer. Everything else — another path, a refused origin,
// a malformed upgrade, a request with a body, a head longer than the
// buffer, an HTTP/2 connection (ALPN h2) — goes to net/http with the bytes
// already read replayed first, and is answered exactly as before.
//
// Connections come from the capped listener (listen.go), so the open-file
// budget holds for both paths. The head, and the TLS handshake before it,
// must arrive within timeout (net/http's ReadHeaderTimeout, which applies
// again to a connection handed over). Close stops accepting and cuts the
// connections whose head is still being read; Wait waits for every
// goroutine the listener started.
type directListener struct {
	inner   net.Listener
	tls     *tls.Config // nil: plain
	serve   func(nc net.Conn, b []byte) ws.Verdict
	timeout time.Duration
	log     *slog.Logger

	conns     chan net.Conn // to net/http; unbuffered, so none is left behind
	failed    chan struct{} // closed when the inner listener failed for good
	err       error         // why; written before failed is closed
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // the accept loop and the heads being read

	mu      sync.Mutex
	reading map[net.Conn]struct{} // conns whose head is being read
	closed  bool
}

func newDirectListener(inner net.Listener, tc *tls.Config, timeout time.Duration, log *slog.Logger, serve func(net.Conn, []byte) ws.Verdict) *directListener {
	return &directListener{
		inner: inner, tls: tc, serve: serve, timeout: timeout, log: log,
		conns: make(chan net.Conn), failed: make(chan struct{}), done: make(chan struct{}),
		reading: make(map[net.Conn]struct{}),
	}
}

// run accepts until the inner listener is closed or fails. It is started
// once, by the listener's owner, which then waits for it with Wait.
func (d *directListener) run() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := d.inner.Accept()
			if err != nil {
				d.err = err
				close(d.failed)
				return
			}
			if !d.track(c) {
				c.Close()
				continue
			}
			d.wg.Add(1)
			go d.sniff(c)
		}
	}()
}

// Accept returns the next connection for net/http.
func (d *directListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case <-d.done:
		return nil, net.ErrClosed
	case <-d.failed:
		select {
		case <-d.done:
			return nil, net.ErrClosed
		default:
			return nil, d.err
		}
	}
}

// Close stops accepting and ends the connections whose head has not
// arrived: they were not served yet, and nobody will.
func (d *directListener) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.done)
		err = d.inner.Close()
		d.mu.Lock()
		d.closed = true
		for c := range d.reading {
			_ = c.SetDeadline(time.Unix(1, 0))
		}
		d.mu.Unlock()
	})
	return err
}

func (d *directListener) Addr() net.Addr { return d.inner.Addr() }

// Wait blocks until the accept loop and every head being read are done
// (from then on no connection reaches the WebSocket handler), or ctx ends.
// Call it after Close.
func (d *directListener) Wait(ctx context.Context) error {
	return transport.Wait(ctx, &d.wg)
}

func (d *directListener) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.reading[c] = struct{}{}
	return true
}

func (d *directListener) untrack(c net.Conn) {
	d.mu.Lock()
	delete(d.reading, c)
	d.mu.Unlock()
}

// sniff reads c's request head and serves or hands it on.
func (d *directListener) sniff(c net.Conn) {
	defer d.wg.Done()
	_ = c.SetDeadline(time.Now().Add(d.timeout))
	nc := c
	if d.tls != nil {
		tc := tls.Server(c, d.tls)
		if err := tc.Handshake(); err != nil {
			d.untrack(c)
			d.log.Debug("TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			tc.Close()
			return
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			d.handOff(c, tc)
			return
		}
		nc = tc
	}
	bp := headBufs.Get().(*[]byte)
	defer headBufs.Put(bp)
	b := (*bp)[:0]
	for {
		n, err := nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if n > 0 {
			v := d.serve(nc, b)
			if v == ws.HeadServed {
				d.untrack(c)
				return
			}
			if v == ws.HeadDeclined || len(b) == cap(b) {
				d.handOff(c, &replayConn{Conn: nc, pre: append([]byte(nil), b...)})
				return
			}
		}
		if err != nil {
			d.untrack(c)
			nc.Close()
			return
		}
	}
}

// handOff gives c (read from the accepted connection ac) to net/http, or
// closes it when nobody accepts any more.
func (d *directListener) handOff(ac, c net.Conn) {
	d.untrack(ac)
	_ = c.SetDeadline(time.Time{})
	select {
	case d.conns <- c:
	case <-d.done:
		c.Close()
	}
}

// replayConn is a connection handed to net/http: it reads what the
// listener already read first.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the socket, as http.Server does before closing a
// connection whose request it refused, so the client reads the answer.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SyscallConn returns the socket's raw connection once the replayed bytes
// are consumed (an upgrade that came through net/http may then park on the
// WebSocket poller, which watches the socket itself).
func (c *replayConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok || len(c.pre) > 0 {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// tlsStateKey carries, in a connection's context, the TLS state of an
// HTTP/1.1 connection the listener read over TLS: net/http is handed a
// replayConn, not the *tls.Conn, so it cannot fill in r.TLS itself.
type tlsStateKey struct{}

// connContext is http.Server's ConnContext: it keeps the TLS state of a
// connection the listener decrypts (see withTLSState).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*replayConn); ok {
		if tc, ok := rc.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
	}
	return ctx
}

// withTLSState gives a request that came over such a connection its TLS
// state, as net/http gives one it decrypted itself: handlers tell TLS from
// plain connections by r.TLS (a long poll or an event stream over TLS is
// not taken out of net/http, for one).
func withTLSState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				c := *st
				r.TLS = &c
			}
		}
		next.ServeHTTP(w, r)
	})
}
