package e2e_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// balancer is a TCP load balancer on 127.0.0.1 in front of a cluster's
// nodes, as a deployment puts one in front of its nodes. Each new
// connection goes to the next node in turn (round robin, no sticky
// sessions); a node that refuses the connection — killed, or draining with
// its listener closed — is skipped for the next, as a balancer that retries
// and redispatches does. It knows nothing of HTTP, WebSocket or Switchboard:
// whatever keeps clients whole across nodes is the nodes' and the clients'
// doing.
//
// Its methods are safe for concurrent use. It is closed, with every
// goroutine it started, when the test ends.
type balancer struct {
	ln       net.Listener
	backends []string // host:port of each node, in the cluster's order
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	next     int
	links    map[*lbLink]struct{}
	active   []int // open connections per backend
	accepted []int // connections ever made per backend
	closed   bool
}

// lbLink is one balanced connection.
type lbLink struct {
	client, target net.Conn
	backend        int
}

// newBalancer starts a balancer in front of the nodes.
func newBalancer(t *testing.T, nodes ...*node) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &balancer{
		ln: ln, ctx: ctx, cancel: cancel,
		links:    make(map[*lbLink]struct{}),
		active:   make([]int, len(nodes)),
		accepted: make([]int, len(nodes)),
	}
	for _, n := range nodes {
		b.backends = append(b.backends, n.hostPort())
	}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

// URL is the balancer's address as a base URL for clients.
func (b *balancer) URL() string { return "http://" + b.ln.Addr().String() }

// Active returns the number of open connections to each backend.
func (b *balancer) Active() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.active...)
}

// Accepted returns the number of connections ever made to each backend.
func (b *balancer) Accepted() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.accepted...)
}

func (b *balancer) close() {
	b.mu.Lock()
	b.closed = true
	for l := range b.links {
		l.client.Close()
		l.target.Close()
	}
	b.mu.Unlock()
	b.ln.Close()
	b.cancel()
	b.wg.Wait()
}

func (b *balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: try again shortly rather
			// than stop balancing in the middle of a test.
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		b.wg.Add(1)
		go b.serve(c)
	}
}

// serve connects c to the next backend that takes the connection, and
// copies both ways until either side ends.
func (b *balancer) serve(c net.Conn) {
	defer b.wg.Done()
	l, err := b.dial(c)
	if err != nil {
		resetConn(c) // no node left: the client sees a refused connection
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		splice(l.target, l.client)
	}()
	splice(l.client, l.target)
	<-done
	l.client.Close()
	l.target.Close()
	b.mu.Lock()
	delete(b.links, l)
	b.active[l.backend]--
	b.mu.Unlock()
}

// dial tries each backend once, starting with the next in turn.
func (b *balancer) dial(c net.Conn) (*lbLink, error) {
	b.mu.Lock()
	first := b.next
	b.next = (b.next + 1) % len(b.backends)
	b.mu.Unlock()
	d := net.Dialer{Timeout: 2 * time.Second}
	var errs []error
	for k := range b.backends {
		i := (first + k) % len(b.backends)
		target, err := d.DialContext(b.ctx, "tcp", b.backends[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := &lbLink{client: c, target: target, backend: i}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			target.Close()
			return nil, net.ErrClosed
		}
		b.links[l] = struct{}{}
		b.active[i]++
		b.accepted[i]++
		b.mu.Unlock()
		return l, nil
	}
	return nil, errors.Join(errs...)
}

// splice copies src to dst and passes an orderly end on as a half-close; an
// error (a reset: a killed node, a cut client) resets both sides, so the
// other direction ends too, as it would through a real balancer.
func splice(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	resetConn(dst)
	resetConn(src)
}

// resetConn closes c with a reset rather than an orderly end.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
