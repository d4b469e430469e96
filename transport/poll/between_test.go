package poll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// TestKeptConnectionsBetweenPollsHoldNoGoroutine: connections whose
// parked polls were answered wait for their clients' next polls in the
// poller, not in a goroutine each; each next poll, when it comes, is
// served on its connection.
func TestKeptConnectionsBetweenPollsHoldNoGoroutine(t *testing.T) {
	n := startCounting(t)
	const conns = 200
	cs := make([]*rawConn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, n.url)
		cs[i].send(t, "/connection/poll?channel=chat:between&timeout=30s")
	}
	testkit.Eventually(t, "every poll to wait", func() bool { return subscribers(n.node, "chat:between") == conns })
	before := runtime.NumGoroutine()
	n.publish(t, "chat:between", 1)
	var cursor string
	for _, c := range cs {
		_, b := c.reply(t)
		if !strings.Contains(b, `"offset":1`) {
			t.Fatalf("poll answered with %q", b)
		}
		cursor = cursorIn(t, b)
	}
	// Each session lingers with its connection for the next poll (see
	// lingering), subscribed: no goroutine either.
	if got := n.Hub.Sessions(); got != conns {
		t.Fatalf("%d sessions between polls, want one lingering per connection (%d)", got, conns)
	}
	testkit.Eventually(t, "connections between polls to hold no goroutine", func() bool {
		return runtime.NumGoroutine()-before < 40
	})
	n.publish(t, "chat:between", 1)
	for _, c := range cs {
		c.send(t, "/connection/poll?channel=chat:between&timeout=30s&cursor="+cursor)
	}
	for _, c := range cs {
		if _, b := c.reply(t); !strings.Contains(b, `"offset":2`) {
			t.Fatalf("next poll answered with %q", b)
		}
	}
	if got := n.routed.Load(); got != conns {
		t.Fatalf("net/http routed %d polls, want the first of each connection only (%d)", got, conns)
	}
}

// TestKeptConnectionClientEndsAfterRequest: a client that sends its next
// poll and closes its side at once gets the reply, and the connection
// closes then: the end came with the request's bytes, and no further
// readiness call says it came.
func TestKeptConnectionClientEndsAfterRequest(t *testing.T) {
	kept := keptAfterPoll(t, startTimed(t, time.Minute, time.Minute))
	kept.send(t, "/connection/poll?channel=chat:i&timeout=0")
	if err := kept.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll: %q", b)
	}
	_ = kept.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, err := kept.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("kept connection whose client ended: read %v, want EOF", err)
	}
}

// TestWaitClosesKeptConnections: Wait closes the connections that wait
// for their clients' next polls, as http.Server.Shutdown closes its idle
// ones.
func TestWaitClosesKeptConnections(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{Namespaces: transporttest.Namespaces(t), Policy: testkit.Policy{}})
	handler := poll.New(poll.Config{Hub: h})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	kept := keptAfterPoll(t, srv.URL)
	// As package server stops: net/http first, then the hub, then Wait.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := handler.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	_ = kept.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, err := kept.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("kept connection after Wait: read %v, want EOF", err)
	}
}

// TestKeptConnectionRequestHeadersPerRequest: a kept connection reuses
// its request and header map from poll to poll, and a poll sees only its
// own headers: one with a token, then one without on the same connection,
// which is anonymous and refused a private channel.
func TestKeptConnectionRequestHeadersPerRequest(t *testing.T) {
	n := startCounting(t)
	kept := dialRaw(t, n.url)
	kept.send(t, "/connection/poll?channel=chat:rh&timeout=50ms")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("first poll: %q", b)
	}
	get := func(extra string) {
		t.Helper()
		if _, err := fmt.Fprintf(kept.nc, "GET /connection/poll?channel=private:ann&timeout=0 HTTP/1.1\r\nHost: node\r\n%s\r\n", extra); err != nil {
			t.Fatal(err)
		}
	}
	get("Authorization: Bearer good:ann\r\n")
	if status, _, b := kept.replyAny(t); status != http.StatusOK {
		t.Fatalf("poll with a token: %d %s", status, b)
	}
	get("")
	if status, _, b := kept.replyAny(t); status != http.StatusForbidden || !strings.Contains(b, "103") {
		t.Fatalf("poll without a token after one with: %d %s, want 403 with code 103", status, b)
	}
	if got := n.routed.Load(); got != 1 {
		t.Fatalf("net/http routed %d polls of the kept connection, want the first only", got)
	}
}

// TestKeptConnectionBusyLongerThanIdleTimeout: the idle timeout counts
// from the end of each poll, however long the poll before it held: a
// connection whose poll holds longer than the timeout is not closed under
// it, and serves its next poll.
func TestKeptConnectionBusyLongerThanIdleTimeout(t *testing.T) {
	kept := keptAfterPoll(t, startTimed(t, 100*time.Millisecond, time.Minute))
	kept.send(t, "/connection/poll?channel=chat:i&timeout=350ms")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll held past the idle timeout: %q", b)
	}
	kept.send(t, "/connection/poll?channel=chat:i&timeout=0")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll after it: %q", b)
	}
}
