package testenv

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// natsWait bounds how long an embedded server may take to accept clients,
// which includes recovering its JetStream store after Restart.
const natsWait = 15 * time.Second

// NATSServer is a NATS server with JetStream, embedded in the test process,
// listening on a free port of 127.0.0.1 and keeping its JetStream store in
// a directory of its own. A test points its clients at URL, and can take
// the server away and bring it back on the same address: Shutdown stops
// it (clients see their connections close), Restart starts it again on the
// same store, so what a file-backed stream acknowledged is there again,
// while a memory-backed stream is gone, as with a NATS that lost its data.
//
// Its methods are meant for the test's goroutine: on failure they stop the
// test with Fatalf. URL and Addr are safe anywhere. The server is shut
// down when the test ends.
type NATSServer struct {
	t    TB
	opts server.Options

	mu  sync.Mutex
	srv *server.Server // nil while the server is not running
}

// NATS starts an embedded NATS server with JetStream for the test and
// returns it once it accepts clients. Nothing needs installing: the server
// is the nats-server module, compiled into the test.
func NATS(t TB) *NATSServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "switchboard-nats-")
	if err != nil {
		t.Fatalf("testenv: nats: %v", err)
		return nil
	}
	s := &NATSServer{t: t}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(s.shutdown)
	s.opts = server.Options{
		ServerName: "switchboard-test",
		Host:       "127.0.0.1",
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	}
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: nats: %v", err)
			return nil
		}
		s.opts.Port = port
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("testenv: embedded nats-server did not start: %v", last)
	return nil
}

// Addr is the server's address, "127.0.0.1:port". It stays the same across
// Shutdown and Restart.
func (s *NATSServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.opts.Port))
}

// URL is the server's address as a nats:// URL.
func (s *NATSServer) URL() string { return "nats://" + s.Addr() }

// Dir is where the server keeps its JetStream store.
func (s *NATSServer) Dir() string { return s.opts.StoreDir }

// Running reports whether the server is up.
func (s *NATSServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Shutdown stops the server and waits until it has: clients see their
// connections close and cannot connect until Restart. Shutting down a
// server that is not running does nothing.
func (s *NATSServer) Shutdown() {
	s.t.Helper()
	s.shutdown()
}

func (s *NATSServer) shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart starts the server again on the same address and store, shutting
// it down first if it is still running, and returns once it accepts
// clients with JetStream recovered.
func (s *NATSServer) Restart() {
	s.t.Helper()
	s.shutdown()
	// The old listener may linger a moment.
	testkit.EventuallyNil(s.t, natsWait, "nats-server to start again on "+s.Addr(), s.start)
}

// start runs a server with s.opts and waits until it accepts clients.
func (s *NATSServer) start() error {
	opts := s.opts // the server keeps and changes what it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		return err
	}
	srv.Start()
	if !srv.ReadyForConnections(natsWait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("not accepting clients on %s after %v", s.Addr(), natsWait)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("JetStream did not start")
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}
