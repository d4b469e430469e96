package poll_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// headerOnly hides everything of the server's ResponseWriter: a poll
// served through it cannot leave net/http.
type headerOnly struct{ http.ResponseWriter }

// rawConn is one kept-alive connection the test writes requests to
// itself: no goroutine on the client's side.
type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, base string) *rawConn {
	t.Helper()
	u, _ := url.Parse(base)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(t *testing.T, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c.nc, "GET %s HTTP/1.1\r\nHost: node\r\nOrigin: http://node\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
}

// reply reads one response: its headers without Date, and its body.
func (c *rawConn) reply(t *testing.T) (http.Header, string) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a reply's body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, b)
	}
	resp.Header.Del("Date")
	return resp.Header, string(b)
}

// subscribers counts ch's subscribers on the node.
func subscribers(n *node, ch string) int {
	for _, c := range n.Hub.Channels() {
		if c.Name == ch {
			return c.Subscribers
		}
	}
	return 0
}

// TestParkedPollReply: a long poll that waited outside net/http is
// answered with what net/http sends, header for header and byte for byte,
// and its connection serves the next poll.
func TestParkedPollReply(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	const q = "?channel=chat:a&channel=chat:b&client=c0ffee0000000001&timeout=20s"
	parked, plain := dialRaw(t, n.url), dialRaw(t, n.url)
	parked.send(t, "/connection/poll"+q)
	plain.send(t, "/plain/poll"+q)
	testkit.Eventually(t, "both polls to wait", func() bool { return subscribers(n, "chat:b") == 2 })
	n.publish(t, "chat:b", 1)
	h1, b1 := parked.reply(t)
	h2, b2 := plain.reply(t)
	if !strings.Contains(b1, `"publications":[{"channel":"chat:b"`) || b1 != b2 {
		t.Fatalf("bodies differ:\nparked:   %q\nnet/http: %q", b1, b2)
	}
	if fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Fatalf("headers differ:\nparked:   %v\nnet/http: %v", h1, h2)
	}
	// The next poll on the same connection: a short one, answered at once.
	parked.send(t, "/connection/poll?channel=chat:b&timeout=0")
	if _, b := parked.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("second poll on the connection: %q", b)
	}
	// And a long one that times out, parked again.
	parked.send(t, "/connection/poll?channel=chat:b&timeout=100ms")
	if _, b := parked.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("third poll on the connection: %q", b)
	}
}

// TestWaitingPollsHoldNoGoroutine: 200 waiting long polls over HTTP/1.1
// cost the node no goroutine each; a publication answers them all, and a
// client that goes away leaves nothing behind.
func TestWaitingPollsHoldNoGoroutine(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	const conns = 200
	before := runtime.NumGoroutine()
	cs := make([]*rawConn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, n.url)
		cs[i].send(t, "/connection/poll?channel=chat:idle&timeout=30s")
	}
	testkit.Eventually(t, "every poll to wait", func() bool { return subscribers(n, "chat:idle") == conns })
	testkit.Eventually(t, "waiting polls to hold no goroutine", func() bool {
		return runtime.NumGoroutine()-before < 20
	})
	n.publish(t, "chat:idle", 1)
	for _, c := range cs {
		if _, b := c.reply(t); !strings.Contains(b, `"offset":1`) {
			t.Fatalf("poll answered with %q", b)
		}
	}
	gone := dialRaw(t, n.url)
	gone.send(t, "/connection/poll?channel=chat:quiet&timeout=30s")
	testkit.Eventually(t, "the poll to wait", func() bool { return subscribers(n, "chat:quiet") == 1 })
	gone.nc.Close()
	// The answered polls' sessions linger on their connections (see
	// lingering) and end with them.
	testkit.Eventually(t, "the poll whose client left to end", func() bool { return n.Hub.Sessions() == conns })
	for _, c := range cs {
		c.nc.Close()
	}
	testkit.Eventually(t, "the sessions of closed connections to end", func() bool { return n.Hub.Sessions() == 0 })
}
