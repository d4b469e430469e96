//go:build linux

package netpoll_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client *net.TCPConn, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestWatch: a watched socket's owner hears of bytes there as it
// registers, of each arrival after that with no call in between, and of
// the client's end, which Hangup keeps; ReadNonblock reads what is there
// and never waits.
func TestWatch(t *testing.T) {
	client, server := pair(t)
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h := &netpoll.Handle{Raw: raw, Ready: func() { calls.Add(1) }}
	p := netpoll.New(nil)
	if !p.Watch(h) {
		t.Fatal("Watch failed")
	}
	testkit.Eventually(t, "a call for the byte there already", func() bool { return calls.Load() == 1 })
	for i := 2; i <= 3; i++ {
		if _, err := client.Write([]byte("b")); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "a call for the next bytes, unread and unarmed", func() bool { return calls.Load() == int32(i) })
	}
	if h.Hangup() {
		t.Fatal("Hangup before the client's end")
	}
	buf := make([]byte, 16)
	if n, err := netpoll.ReadNonblock(raw, buf); n != 3 || err != nil || string(buf[:n]) != "abb" {
		t.Fatalf("ReadNonblock: %d %q %v, want 3 \"abb\" nil", n, buf[:n], err)
	}
	if n, err := netpoll.ReadNonblock(raw, buf); n != 0 || err != nil {
		t.Fatalf("ReadNonblock of an empty socket: %d %v, want 0 nil", n, err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the end to be seen", func() bool { return calls.Load() == 4 && h.Hangup() })
	if n, err := netpoll.ReadNonblock(raw, buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadNonblock at the end: %d %v, want 0 EOF", n, err)
	}
	p.Forget(h)
	p.Wait() // the poller's goroutine ends with its last socket
}
