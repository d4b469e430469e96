package client_test

import (
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy between the clients and a node, so tests can break
// the network under both without either knowing: cut every connection,
// refuse new ones, or freeze the open ones (bytes stop flowing, nothing is
// closed: the silence of a dead network).
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	links  map[*link]struct{}
	down   bool
	closed bool
}

// link is one proxied connection. frozen is closed to let a frozen link flow
// again; dead is closed when the link ends.
type link struct {
	client, node net.Conn
	once         sync.Once
	dead         chan struct{}
	frozen       chan struct{} // nil when not frozen
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.dead)
		l.client.Close()
		l.node.Close()
	})
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, links: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		n, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, node: n, dead: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.close()
			continue
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, c, n)
		go p.pipe(l, n, c)
	}
}

// pipe copies one direction. Bytes read while the link is frozen are held
// until it thaws or ends.
func (p *proxy) pipe(l *link, from, to net.Conn) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := l.frozen
			p.mu.Unlock()
			if frozen != nil {
				select {
				case <-frozen:
				case <-l.dead:
					return
				}
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a cut: the link ends either way
		}
	}
}

// cut closes every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// setDown refuses new connections (accepting and closing them at once), or
// lets them through again.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// freeze stops the bytes of every open connection; new connections flow.
// It returns the function that lets them flow again.
func (p *proxy) freeze() (thaw func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	for l := range p.links {
		l.frozen = ch
	}
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
