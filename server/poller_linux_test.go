//go:build linux

package server_test

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestOnePollerForEveryTransport: an idle WebSocket connection, an SSE
// stream and a waiting long poll all wait in the node's one poller: the
// process runs one epoll goroutine for the three, not one per transport.
func TestOnePollerForEveryTransport(t *testing.T) {
	n := newNode(t)
	c := n.dial("")
	c.call(map[string]any{"type": "subscribe", "channel": "chat:p"})

	addr := strings.TrimPrefix(n.base, "http://")
	for _, path := range []string{"/connection/sse?channel=chat:p", "/connection/poll?channel=chat:p&timeout=30s"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(path, "/connection/sse") {
			// The stream's headers: it has left net/http for the poller.
			if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
				t.Fatalf("sse: %q, %v", line, err)
			}
		}
	}
	testkit.Eventually(t, "every transport's idle connection waits in one poller", func() bool {
		return pollers() == 1 && n.hub.Sessions() >= 3
	})
}

// pollers counts the goroutines running a netpoll poller's loop.
func pollers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "internal/netpoll.(*Poller).run(")
}
