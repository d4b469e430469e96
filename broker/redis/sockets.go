package redis

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/redis/rueidis"
)

// sockets are the network connections the Redis client dialled, so that
// Close can cut them at once. The client's own close is polite: it sends
// each connection a PING and waits for the answer, up to a second per
// connection, one after another; a Redis that hangs (stopped, or cut off by
// the network) answers none, and a node's exit would wait seconds for it.
// Once the sockets are closed, the client's close finds every connection
// failed and returns without waiting.
type sockets struct {
	mu     sync.Mutex
	closed bool
	conns  map[*socket]struct{}
}

// socket is one tracked connection; closing it forgets it.
type socket struct {
	net.Conn
	owner *sockets
	once  sync.Once
}

func (c *socket) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
	})
	return c.Conn.Close()
}

// track makes opt dial through s: with opt's own dial function if it has
// one, or as rueidis dials by default (TCP, or TLS with opt.TLSConfig). A
// Sentinel's connections are dialled the same way.
func (s *sockets) track(opt *rueidis.ClientOption) {
	dialCtx, dial := opt.DialCtxFn, opt.DialFn
	opt.DialFn = nil
	opt.DialCtxFn = func(ctx context.Context, dst string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
		var conn net.Conn
		var err error
		switch {
		case dialCtx != nil:
			conn, err = dialCtx(ctx, dst, d, cfg)
		case dial != nil:
			conn, err = dial(dst, d, cfg)
		case cfg != nil:
			conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", dst)
		default:
			conn, err = d.DialContext(ctx, "tcp", dst)
		}
		if err != nil {
			return nil, err
		}
		return s.add(conn)
	}
}

func (s *sockets) add(conn net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return nil, errClosed
	}
	if s.conns == nil {
		s.conns = make(map[*socket]struct{})
	}
	c := &socket{Conn: conn, owner: s}
	s.conns[c] = struct{}{}
	return c, nil
}

// closeAll closes every connection and refuses new ones.
func (s *sockets) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*socket, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
