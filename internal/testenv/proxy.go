package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one address. A test points a
// client at Addr instead of the server, and can then drop the network under
// it: CutAll resets every connection in both directions, SetBlocked refuses
// new ones, Freeze silences the open ones. Neither the client nor the server knows a proxy is there, so
// what they do about it is exactly what they would do about a real network
// failure.
//
// Its methods are safe for concurrent use. Close (run at the test's cleanup
// when the proxy comes from NewProxy) returns only after every goroutine the
// proxy started has ended.
type Proxy struct {
	target string
	ln     net.Listener
	// ctx ends at Close, so a dial to the target in progress is abandoned
	// rather than waited for.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// spared is the source address whose connections the proxy carries
	// through every fault (see ProxySpare); "" spares none.
	spared string

	mu      sync.Mutex
	links   map[*link]struct{}
	blocked bool
	refused int
	closed  bool
}

// link is one proxied connection: the client's side and the target's.
// Its fields are guarded by the proxy's mu.
type link struct {
	client net.Conn
	target net.Conn // nil until the dial succeeds
	cut    bool     // set by CutAll; a dial that completes later is dropped
	// ended is closed when cut is set, to release a frozen direction.
	ended chan struct{}
	// frozen, when not nil, holds the bytes read until it is closed.
	frozen chan struct{}
	// spared: the client comes from the spared source address, and no
	// fault touches the link.
	spared bool
}

// PeerAddr is the source address from which the servers of a clustered
// deployment reach one another when it runs behind proxies (see
// Proxied): 127.0.0.2, on the loopback interface like 127.0.0.1. Their
// proxies spare it, so a fault cuts the deployment's clients off and
// leaves its replication, gossip and monitoring alone.
const PeerAddr = "127.0.0.2"

// ProxyOption changes how NewProxy sets a proxy up.
type ProxyOption func(*Proxy)

// ProxySpare has the proxy carry the connections that come from the source
// address ip through every fault: CutAll, Freeze and SetBlocked leave them
// alone. A deployment's servers reach one another from PeerAddr, so one
// proxy per server can cut its clients off without cutting the servers
// off from each other.
func ProxySpare(ip string) ProxyOption {
	return func(p *Proxy) { p.spared = ip }
}

// dialTimeout bounds the dial to the target. The target is a local test
// server, so anything slower is a failure to report as a dropped connection.
const dialTimeout = 5 * time.Second

// NewProxy starts a proxy in front of target (host:port) and closes it when
// the test ends.
func NewProxy(t TB, target string, opts ...ProxyOption) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{target: target, ln: ln, ctx: ctx, cancel: cancel, links: make(map[*link]struct{})}
	for _, opt := range opts {
		opt(p)
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address clients connect to, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// CutAll resets every open connection in both directions and reports how
// many it cut. Data still in flight is lost, as when a network drops: the
// client and the target each get a connection reset, not an orderly close.
// New connections are proxied as usual unless the proxy is blocked.
// Connections from a spared address (ProxySpare) stay open.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for l := range p.links {
		if l.cut || (l.spared && !p.closed) {
			continue
		}
		l.cut = true
		close(l.ended)
		reset(l.client)
		if l.target != nil {
			reset(l.target)
		}
		n++
	}
	return n
}

// SetBlocked decides what happens to new connections. While blocked, each
// is accepted and reset at once, with nothing sent to the target — a client
// sees its connection attempts fail. Connections already open are left
// alone; CutAll drops them.
func (p *Proxy) SetBlocked(blocked bool) {
	p.mu.Lock()
	p.blocked = blocked
	p.mu.Unlock()
}

// Refused counts the connections reset because the proxy was blocked. A
// test reads it to know that a client has tried, and failed, to reconnect.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// Freeze stops the bytes of every open connection, in both directions,
// and closes nothing: the silence of a network that died without a word.
// The bytes read meanwhile are held until thaw lets them through; CutAll
// and Close end frozen connections as they end the others. Connections
// opened after Freeze flow as usual.
func (p *Proxy) Freeze() (thaw func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	for l := range p.links {
		if !l.spared {
			l.frozen = ch
		}
	}
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// flowing waits while l is frozen, and reports whether it may carry on:
// false once l is cut.
func (p *Proxy) flowing(l *link) bool {
	p.mu.Lock()
	frozen := l.frozen
	p.mu.Unlock()
	if frozen == nil {
		return true
	}
	select {
	case <-frozen:
		return true
	case <-l.ended:
		return false
	}
}

// Close stops accepting, resets every open connection and waits for the
// proxy's goroutines to end. It may be called more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		p.ln.Close()
		p.cancel()
	}
	p.CutAll()
	p.wg.Wait()
}

// accept owns the listener: it hands each connection to a goroutine of its
// own, or resets it while the proxy is blocked.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (out of descriptors): try again
			// rather than stop proxying in the middle of a test.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		spared := p.spares(c)
		p.mu.Lock()
		if p.closed || (p.blocked && !spared) {
			if !p.closed {
				p.refused++
			}
			p.mu.Unlock()
			reset(c)
			continue
		}
		l := &link{client: c, ended: make(chan struct{}), spared: spared}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// spares reports whether c comes from the spared source address.
func (p *Proxy) spares(c net.Conn) bool {
	if p.spared == "" {
		return false
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	return err == nil && host == p.spared
}

// serve dials the target and copies both ways until both directions end.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	d := net.Dialer{Timeout: dialTimeout}
	target, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		// Nobody to connect to: the client sees what it would see from
		// a refused connection, a reset.
		reset(l.client)
		return
	}
	p.mu.Lock()
	if l.cut {
		p.mu.Unlock()
		reset(target)
		return
	}
	l.target = target
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pipe(l, l.client, target)
	}()
	p.pipe(l, target, l.client)
	<-done
	l.client.Close()
	target.Close()
}

// pipe copies src to dst, holding the bytes while the link is frozen. At
// the end of src it passes the half-close on, so a client that closes its
// sending side still reads the reply; on an error (a reset, a cut) it
// resets both sides, so the other direction ends too.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.flowing(l) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			break
		}
		if err != nil {
			break
		}
	}
	reset(dst)
	reset(src)
}

// reset closes c so that the peer sees a reset rather than an orderly end:
// with no linger, unsent data is dropped and the kernel answers with RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// DeploymentOption changes how NewRedisCluster, NewRedisSentinel and
// NewNATSCluster start a deployment.
type DeploymentOption func(*deploymentOptions)

type deploymentOptions struct {
	proxied bool
}

// Proxied puts a Proxy in front of every data server of the deployment and
// has the deployment announce the proxies, so that its clients reach each
// server only through its proxy, while the servers reach one another from
// PeerAddr, which the proxies spare (NATS servers talk over their route
// ports, which have no proxy). A test then cuts, blocks or freezes the
// network between its clients and the deployment with the proxies'
// methods without cutting replication, gossip, routes or the Sentinels'
// watch, so the deployment sees no failure of its own.
func Proxied() DeploymentOption {
	return func(o *deploymentOptions) { o.proxied = true }
}

func deploymentOpts(opts []DeploymentOption) deploymentOptions {
	var o deploymentOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
