package poll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// countingNode serves the handler at /connection/poll behind a counter of
// the requests net/http routed to it, and at /plain/poll where it cannot
// keep the connection.
type countingNode struct {
	*node
	routed atomic.Int64
}

func startCounting(t *testing.T) *countingNode {
	t.Helper()
	cn := &countingNode{}
	var handler *poll.Handler
	n := transporttest.Start(t, transporttest.Config{Handler: func(h *hub.Hub) http.Handler {
		handler = poll.New(poll.Config{Hub: h, Verifier: testkit.Verifier{}})
		mux := http.NewServeMux()
		mux.Handle("/connection/poll", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cn.routed.Add(1)
			handler.ServeHTTP(w, r)
		}))
		mux.Handle("/plain/poll", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handler.ServeHTTP(headerOnly{w}, r)
		}))
		return mux
	}, Drain: func(ctx context.Context) error { return handler.Wait(ctx) }})
	cn.node = &node{Node: n, url: n.Server.URL, handler: handler}
	return cn
}

// replyAny reads one response whatever its status: status, headers
// without Date, body.
func (c *rawConn) replyAny(t *testing.T) (int, http.Header, string) {
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
	resp.Header.Del("Date")
	return resp.StatusCode, resp.Header, string(b)
}

// TestKeptConnectionServesPolls: once a poll has waited outside net/http,
// the handler serves the next polls on its connection itself — answered at
// once, parked again, refused — with the replies net/http would send.
func TestKeptConnectionServesPolls(t *testing.T) {
	n := startCounting(t)
	const q = "?channel=chat:k&client=c0ffee0000000002"
	kept, plain := dialRaw(t, n.url), dialRaw(t, n.url)
	kept.send(t, "/connection/poll"+q+"&timeout=20s")
	testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:k", 1)
	_, first := kept.reply(t)
	if !strings.Contains(first, `"offset":1`) {
		t.Fatalf("first poll: %q", first)
	}
	cursor := cursorIn(t, first)
	// Answered at once, beside the same poll through net/http.
	for _, path := range []string{q + "&timeout=0", q + "&timeout=forever"} {
		kept.send(t, "/connection/poll"+path)
		plain.send(t, "/plain/poll"+path)
		s1, h1, b1 := kept.replyAny(t)
		s2, h2, b2 := plain.replyAny(t)
		if s1 != s2 || b1 != b2 {
			t.Fatalf("%s: kept %d %q, net/http %d %q", path, s1, b1, s2, b2)
		}
		if fmt.Sprint(h1) != fmt.Sprint(h2) {
			t.Fatalf("%s: headers differ:\nkept:     %v\nnet/http: %v", path, h1, h2)
		}
	}
	// Parked again, and answered by the next publication. From the
	// cursor: the session counted may be the last poll's, closing after
	// its reply.
	kept.send(t, "/connection/poll"+q+"&timeout=20s&cursor="+cursor)
	testkit.Eventually(t, "the poll to wait again", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:k", 1)
	if _, b := kept.reply(t); !strings.Contains(b, `"offset":2`) {
		t.Fatalf("fourth poll: %q", b)
	}
	if got := n.routed.Load(); got != 1 {
		t.Fatalf("net/http routed %d polls of the kept connection, want the first only", got)
	}
}

// TestKeptConnectionHandsBack: a request on a kept connection that is not
// a plain poll of the same endpoint goes to net/http, answered as before,
// and the connection goes on serving polls; one asking to close is
// answered and closed.
func TestKeptConnectionHandsBack(t *testing.T) {
	n := startCounting(t)
	kept := dialRaw(t, n.url)
	kept.send(t, "/connection/poll?channel=chat:h&timeout=20s")
	testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:h", 1)
	kept.reply(t)
	// Another endpoint.
	kept.send(t, "/plain/poll?channel=chat:h&timeout=0")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("another endpoint on the kept connection: %q", b)
	}
	// A path net/http does not route: its 404.
	kept.send(t, "/connection/pol")
	if s, _, _ := kept.replyAny(t); s != http.StatusNotFound {
		t.Fatalf("an unknown path on the kept connection: status %d", s)
	}
	// A poll that waits, handed to net/http and parked again.
	kept.send(t, "/connection/poll?channel=chat:h&timeout=20s")
	testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:h", 1)
	if _, b := kept.reply(t); !strings.Contains(b, `"offset":2`) {
		t.Fatalf("poll after the hand-back: %q", b)
	}
	// Asking to close: answered, then closed.
	if _, err := fmt.Fprintf(kept.nc, "GET /connection/poll?channel=chat:h&timeout=0 HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("closing poll: %q", b)
	}
	if _, err := kept.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after a reply to Connection: close, read %v, want EOF", err)
	}
}

// TestPollSentWhileParked: a request the client sends while its poll
// waits (HTTP/1.1 pipelining) is served after the reply, not dropped.
func TestPollSentWhileParked(t *testing.T) {
	n := startCounting(t)
	kept := dialRaw(t, n.url)
	kept.send(t, "/connection/poll?channel=chat:p&timeout=20s")
	testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	kept.send(t, "/connection/poll?channel=chat:p&timeout=0")
	// The poller takes events in the order they came: once it has seen a
	// later poll's client leave, it has seen the request above arrive.
	probe := dialRaw(t, n.url)
	probe.send(t, "/connection/poll?channel=chat:probe&timeout=20s")
	testkit.Eventually(t, "the probe to wait", func() bool { return subscribers(n.node, "chat:probe") == 1 })
	probe.nc.Close()
	testkit.Eventually(t, "the probe to end", func() bool { return n.Hub.Sessions() == 1 })
	n.publish(t, "chat:p", 1)
	if _, b := kept.reply(t); !strings.Contains(b, `"offset":1`) {
		t.Fatalf("parked poll: %q", b)
	}
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll sent while the first waited: %q", b)
	}
}

// startTimed serves the handler on a server with the given timeouts.
func startTimed(t *testing.T, idle, header time.Duration) string {
	t.Helper()
	h := transporttest.RunHub(t, hub.Config{Namespaces: transporttest.Namespaces(t), Policy: testkit.Policy{}})
	handler := poll.New(poll.Config{Hub: h})
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.IdleTimeout = idle
	srv.Config.ReadHeaderTimeout = header
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, 0); err != nil {
			t.Error(err)
		}
		if err := handler.Wait(ctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return srv.URL
}

// keptAfterPoll is a connection whose poll waited and was answered: the
// handler keeps it.
func keptAfterPoll(t *testing.T, url string) *rawConn {
	t.Helper()
	kept := dialRaw(t, url)
	kept.send(t, "/connection/poll?channel=chat:i&timeout=50ms")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll: %q", b)
	}
	return kept
}

// TestKeptConnectionIdleTimeout: a kept connection whose client sends
// nothing more is closed after the server's IdleTimeout, as net/http
// closes its own idle connections.
func TestKeptConnectionIdleTimeout(t *testing.T) {
	kept := keptAfterPoll(t, startTimed(t, 100*time.Millisecond, time.Minute))
	_ = kept.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, err := kept.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle kept connection: read %v, want EOF", err)
	}
}

// TestKeptConnectionHeaderTimeout: a client that starts its next request
// and stops has it closed after the server's ReadHeaderTimeout, not its
// (longer) IdleTimeout.
func TestKeptConnectionHeaderTimeout(t *testing.T) {
	kept := keptAfterPoll(t, startTimed(t, time.Minute, 100*time.Millisecond))
	if _, err := fmt.Fprint(kept.nc, "GET /connection/poll?channel=chat:i HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	_ = kept.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, err := kept.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("half a head on a kept connection: read %v, want EOF", err)
	}
}

// TestKeptConnectionHeadersPerRequest: the writer a kept connection reuses
// from poll to poll starts each request with no header: a poll with an
// Origin parked and answered leaves nothing in the replies to the next
// polls, with or without one.
func TestKeptConnectionHeadersPerRequest(t *testing.T) {
	n := startCounting(t)
	const q = "?channel=chat:hd&timeout=20s"
	kept, plain := dialRaw(t, n.url), dialRaw(t, n.url)
	cursor := ""
	for i := 1; i <= 3; i++ { // the first through net/http, then kept
		kept.send(t, "/connection/poll"+q+cursor)
		// The session counted may be the last poll's, closing after its
		// reply: the cursor has the next poll replay what it misses.
		testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
		n.publish(t, "chat:hd", 1)
		h, b := kept.reply(t)
		cursor = "&cursor=" + cursorIn(t, b)
		if !strings.Contains(b, fmt.Sprintf(`"offset":%d`, i)) {
			t.Fatalf("poll %d: %q", i, b)
		}
		if v := h.Values("Vary"); len(v) != 1 || v[0] != "Origin" || h.Get("Access-Control-Allow-Origin") != "http://node" {
			t.Fatalf("poll %d: Vary %q, Access-Control-Allow-Origin %q; want one Origin each", i, v, h.Get("Access-Control-Allow-Origin"))
		}
	}
	noOrigin := func(c *rawConn, path string) {
		if _, err := fmt.Fprintf(c.nc, "GET %s HTTP/1.1\r\nHost: node\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
	}
	noOrigin(kept, "/connection/poll?channel=chat:hd&timeout=0")
	noOrigin(plain, "/plain/poll?channel=chat:hd&timeout=0")
	s1, h1, _ := kept.replyAny(t)
	s2, h2, _ := plain.replyAny(t)
	if s1 != http.StatusOK || s1 != s2 || fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Fatalf("a poll without Origin after polls with one:\nkept:     %d %v\nnet/http: %d %v", s1, h1, s2, h2)
	}
	if got := n.routed.Load(); got != 1 {
		t.Fatalf("net/http routed %d polls of the kept connection, want the first only", got)
	}
}

// cursorIn returns a poll reply's cursor.
func cursorIn(t *testing.T, body string) string {
	t.Helper()
	_, after, ok := strings.Cut(body, `"cursor":"`)
	cursor, _, ok2 := strings.Cut(after, `"`)
	if !ok || !ok2 {
		t.Fatalf("no cursor in %q", body)
	}
	return cursor
}
