package testenv_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// The embedded NATS server's access-time ticker and a stream's state
// flusher end a moment after the server shut down, on their own next tick;
// on a loaded machine goleak can look before then.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
	)
}

// wait bounds every read and every wait here; a passing test never comes
// near it.
const wait = 10 * time.Second

// echoServer answers each line it reads with the line upper-cased, and
// reports each connection it accepts. It stops, with all its goroutines,
// when the test ends.
type echoServer struct {
	ln       net.Listener
	accepted chan net.Conn
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, accepted: make(chan net.Conn, 16)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		select {
		case s.accepted <- c:
		default:
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					if errors.Is(err, io.EOF) {
						// The client closed its sending side: say
						// goodbye on ours, then close.
						_, _ = io.WriteString(c, "BYE\n")
					}
					return
				}
				if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
					return
				}
			}
		}()
	}
}

func (s *echoServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	return c
}

// roundTrip sends one line and reads the answer.
func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

// readErr waits for c to fail or end, and returns how.
func readErr(t *testing.T, c net.Conn) error {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF // io.Copy reports an orderly end as nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", wait)
	}
	return err
}

// attempt connects to addr and reads until the connection ends, returning
// how it failed. A reset that arrives before the dial returns fails the dial
// itself, so either step may report it.
func attempt(t *testing.T, addr string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	return readErr(t, c)
}

func TestProxyPassesBothWays(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	r := bufio.NewReader(c)
	for _, line := range []string{"hello", "switchboard", strings.Repeat("x", 100_000)} {
		got, err := roundTrip(c, r, line)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.ToUpper(line); got != want {
			t.Fatalf("got %.20q (%d bytes), want %.20q (%d bytes)", got, len(got), want, len(want))
		}
	}
}

// A client that closes its sending side still gets the rest of the reply:
// the proxy passes the half-close on instead of dropping the connection.
func TestProxyPassesHalfClose(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	if _, err := io.WriteString(c, "last\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "LAST\nBYE\n" {
		t.Fatalf("got %q, want the echo, the goodbye and an orderly end", got)
	}
}

func TestProxyCutAll(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	clients := make([]net.Conn, 3)
	targets := make([]net.Conn, len(clients))
	for i := range clients {
		clients[i] = dial(t, p.Addr())
		// A round trip proves the target side is connected too.
		if _, err := roundTrip(clients[i], bufio.NewReader(clients[i]), "ping"); err != nil {
			t.Fatal(err)
		}
		targets[i] = <-s.accepted
	}

	if n := p.CutAll(); n != len(clients) {
		t.Errorf("CutAll cut %d connections, want %d", n, len(clients))
	}
	for i, c := range clients {
		if err := readErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client %d: read ended with %v, want a connection reset", i, err)
		}
	}
	for i, c := range targets {
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("target side %d still open after CutAll", i)
		}
	}

	// The proxy itself carries on.
	c := dial(t, p.Addr())
	if got, err := roundTrip(c, bufio.NewReader(c), "again"); err != nil || got != "AGAIN" {
		t.Fatalf("after CutAll: got %q, %v; want AGAIN", got, err)
	}
	if n := p.CutAll(); n != 1 {
		t.Errorf("second CutAll cut %d connections, want 1", n)
	}
}

func TestProxyBlocked(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	open := dial(t, p.Addr())
	openR := bufio.NewReader(open)
	if _, err := roundTrip(open, openR, "before"); err != nil {
		t.Fatal(err)
	}
	<-s.accepted

	p.SetBlocked(true)
	for i := range 3 {
		if err := attempt(t, p.Addr()); err == nil {
			t.Fatalf("attempt %d: connection usable while blocked", i)
		}
	}
	select {
	case <-s.accepted:
		t.Fatal("a connection reached the target while the proxy was blocked")
	default:
	}
	if n := p.Refused(); n != 3 {
		t.Errorf("Refused = %d after 3 attempts while blocked", n)
	}
	// A connection opened before the block is left alone.
	if got, err := roundTrip(open, openR, "during"); err != nil || got != "DURING" {
		t.Fatalf("open connection while blocked: got %q, %v", got, err)
	}

	p.SetBlocked(false)
	c := dial(t, p.Addr())
	if got, err := roundTrip(c, bufio.NewReader(c), "after"); err != nil || got != "AFTER" {
		t.Fatalf("after unblocking: got %q, %v; want AFTER", got, err)
	}
}

// Freeze holds the bytes of open connections without closing them, lets
// them through at thaw, leaves new connections alone, and gives way to
// CutAll.
func TestProxyFreeze(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	r := bufio.NewReader(c)
	if _, err := roundTrip(c, r, "before"); err != nil {
		t.Fatal(err)
	}
	thaw := p.Freeze()
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	// Silence, not an end: the read times out.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var ne net.Error
	if _, err := r.ReadString('\n'); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read from a frozen connection: %v, want a timeout", err)
	}
	fresh := dial(t, p.Addr())
	if got, err := roundTrip(fresh, bufio.NewReader(fresh), "fresh"); err != nil || got != "FRESH" {
		t.Fatalf("new connection while frozen: got %q, %v; want FRESH", got, err)
	}
	thaw()
	thaw()
	c.SetReadDeadline(time.Now().Add(wait))
	if got, err := r.ReadString('\n'); err != nil || got != "HELD\n" {
		t.Fatalf("after thaw: got %q, %v; want HELD", got, err)
	}

	p.Freeze()
	if _, err := io.WriteString(c, "lost\n"); err != nil {
		t.Fatal(err)
	}
	if n := p.CutAll(); n != 2 {
		t.Errorf("CutAll cut %d connections, want 2", n)
	}
	if err := readErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("frozen connection after CutAll: %v, want a connection reset", err)
	}
}

// With nothing listening behind it, the proxy resets each client instead of
// leaving it hanging.
func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := testenv.NewProxy(t, addr)
	if err := attempt(t, p.Addr()); err == nil {
		t.Fatal("connection to a proxy with no target ended cleanly; want a reset")
	}
}

// Close ends every connection and every goroutine (TestMain checks with
// goleak that none is left), refuses new connections, and may be repeated.
func TestProxyClose(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, bufio.NewReader(c), "hi"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := readErr(t, c); err == nil {
		t.Error("connection ended cleanly at Close; want a reset")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), wait); err == nil {
		c.Close()
		t.Error("a closed proxy still accepts connections")
	}
	p.Close()
	if n := p.CutAll(); n != 0 {
		t.Errorf("CutAll after Close cut %d connections", n)
	}
}

func TestProxyConcurrentUse(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				c, err := net.DialTimeout("tcp", p.Addr(), wait)
				if err != nil {
					continue // reset while blocked, before the dial returned
				}
				c.SetDeadline(time.Now().Add(wait))
				// Errors are expected: other goroutines cut and block.
				_, _ = roundTrip(c, bufio.NewReader(c), "x")
				c.Close()
				switch (i + j) % 5 {
				case 0:
					p.CutAll()
				case 1:
					p.SetBlocked(true)
				case 2:
					p.SetBlocked(false)
				}
			}
		}()
	}
	wg.Wait()
	p.Close()
}

// A spared source address rides out every fault: the proxy blocks, cuts
// and freezes the other clients while a connection from PeerAddr keeps
// talking, and a new one from there is let in while blocked. Close ends it
// too.
func TestProxySpare(t *testing.T) {
	s := newEchoServer(t)
	p := testenv.NewProxy(t, s.ln.Addr().String(), testenv.ProxySpare(testenv.PeerAddr))
	peerDial := func() net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(testenv.PeerAddr)}}
		c, err := d.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(wait))
		return c
	}
	peer := peerDial()
	peerR := bufio.NewReader(peer)
	client := dial(t, p.Addr())
	if _, err := roundTrip(client, bufio.NewReader(client), "client"); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(peer, peerR, "peer"); err != nil {
		t.Fatal(err)
	}

	p.SetBlocked(true)
	thaw := p.Freeze()
	defer thaw()
	if n := p.CutAll(); n != 1 {
		t.Errorf("CutAll cut %d connections, want only the client's", n)
	}
	if err := readErr(t, client); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client after CutAll: %v, want a connection reset", err)
	}
	if err := attempt(t, p.Addr()); err == nil {
		t.Error("a client connected while blocked")
	}
	if got, err := roundTrip(peer, peerR, "still"); err != nil || got != "STILL" {
		t.Fatalf("spared connection through block, freeze and cut: got %q, %v; want STILL", got, err)
	}
	fresh := peerDial()
	if got, err := roundTrip(fresh, bufio.NewReader(fresh), "new"); err != nil || got != "NEW" {
		t.Fatalf("spared connection opened while blocked: got %q, %v; want NEW", got, err)
	}
	if n := p.Refused(); n != 1 {
		t.Errorf("Refused = %d, want 1: a spared connection is not refused", n)
	}

	p.Close()
	if err := readErr(t, peer); err == nil {
		t.Error("spared connection ended cleanly at Close; want a reset")
	}
}
