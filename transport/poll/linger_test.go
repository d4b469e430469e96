package poll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// closedLongPolls counts the long polls' sessions closed by the handler.
func closedLongPolls(n *node) uint64 {
	return n.Hub.Stats().Disconnects[hub.DisconnectKey{Transport: poll.TransportLongPoll, Cause: stream.ErrClosed}]
}

// offsets lists the offsets of a reply body's publications.
func offsets(t *testing.T, body string) []uint64 {
	t.Helper()
	r := decodeReply(t, testkit.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, Body: []byte(body)})
	var out []uint64
	for _, p := range r.Publications {
		out = append(out, p.Offset)
	}
	return out
}

// keptPoll opens a kept connection whose first long poll of ch (with the
// extra query parameters) is answered by a publication; it returns the
// connection, with its session lingering, and the reply's cursor.
func keptPoll(t *testing.T, n *node, ch, extra string) (*rawConn, string) {
	t.Helper()
	c := dialRaw(t, n.url)
	c.send(t, "/connection/poll?channel="+ch+"&timeout=30s&client=kc"+extra)
	testkit.Eventually(t, "the first poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, ch, 1)
	_, b := c.reply(t)
	if got := offsets(t, b); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("first poll answered with %v: %s", got, b)
	}
	return c, cursorIn(t, b)
}

// TestKeptPollTakesOverItsSession: the next long poll of a kept connection,
// from the cursor the reply gave, for the same channels, token and client,
// is served by the last poll's session, still subscribed: no session is
// closed and none opened between the two, and the client stays present.
func TestKeptPollTakesOverItsSession(t *testing.T) {
	n := presenceNode(t, time.Minute)
	c, cursor := keptPoll(t, n, "chat:room", "&token=good:pat")
	c.send(t, "/connection/poll?channel=chat:room&timeout=30s&client=kc&token=good:pat&cursor="+cursor)
	testkit.Eventually(t, "the next poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	if got := closedLongPolls(n); got != 0 {
		t.Fatalf("%d sessions closed between two polls of a kept connection, want the first taken over", got)
	}
	if got := n.Hub.Sessions(); got != 1 {
		t.Fatalf("%d sessions, want the one", got)
	}
	if got := n.presenceClients(t, "chat:room"); !slices.Equal(got, []string{"kc/pat"}) {
		t.Fatalf("presence %v, want the client once", got)
	}
	n.publish(t, "chat:room", 1)
	if _, b := c.reply(t); !slices.Equal(offsets(t, b), []uint64{2}) {
		t.Fatalf("the next poll answered with %s", b)
	}
	c.nc.Close()
	testkit.Eventually(t, "the session to end with its connection", func() bool { return n.Hub.Sessions() == 0 })
}

// TestKeptPollBetweenPolls: publications made between a reply and the
// connection's next poll are in that poll's answer, exactly once, and the
// poll after it waits for the next.
func TestKeptPollBetweenPolls(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	c, cursor := keptPoll(t, n, "chat:btw", "")
	n.publish(t, "chat:btw", 2)
	c.send(t, "/connection/poll?channel=chat:btw&timeout=30s&client=kc&cursor="+cursor)
	_, b := c.reply(t)
	if got := offsets(t, b); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("the poll after two publications answered with %v: %s", got, b)
	}
	c.send(t, "/connection/poll?channel=chat:btw&timeout=30s&client=kc&cursor="+cursorIn(t, b))
	testkit.Eventually(t, "the next poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:btw", 1)
	if _, b := c.reply(t); !slices.Equal(offsets(t, b), []uint64{4}) {
		t.Fatalf("the poll after that answered with %s", b)
	}
	if got := closedLongPolls(n); got != 0 {
		t.Fatalf("%d sessions closed, want one session throughout", got)
	}
}

var mintedID = regexp.MustCompile(`"client":"[0-9a-f]+"`)

// TestKeptPollOtherwiseFresh: a next poll that does not ask for exactly
// what the last reply said — another cursor, older or newer, other
// channels, another token or client — closes the lingering session and is
// answered as a fresh poll is (the same query on a connection of its own,
// through net/http, is the oracle), with no publication lost or repeated.
func TestKeptPollOtherwiseFresh(t *testing.T) {
	type next struct {
		query   func(ch, cursor string, top stream.Position) string
		publish int // before the next poll
	}
	cursorAt := func(ch string, p stream.Position, off uint64) string {
		return cursorOf(map[string]stream.Position{ch: {Epoch: p.Epoch, Offset: off}})
	}
	for name, c := range map[string]next{
		"older cursor": {publish: 1, query: func(ch, _ string, top stream.Position) string {
			return "channel=" + ch + "&client=kc&cursor=" + cursorAt(ch, top, 0)
		}},
		"newer cursor": {publish: 2, query: func(ch, _ string, top stream.Position) string {
			return "channel=" + ch + "&client=kc&cursor=" + cursorAt(ch, top, top.Offset-1)
		}},
		"no cursor": {publish: 1, query: func(ch, _ string, _ stream.Position) string {
			return "channel=" + ch + "&client=kc&timeout=200ms"
		}},
		"another channel": {publish: 1, query: func(ch, cursor string, _ stream.Position) string {
			return "channel=" + ch + "&channel=chat:more&client=kc&cursor=" + cursor
		}},
		"another client": {publish: 1, query: func(ch, cursor string, _ stream.Position) string {
			return "channel=" + ch + "&client=kd&cursor=" + cursor
		}},
		"no client": {publish: 1, query: func(ch, cursor string, _ stream.Position) string {
			return "channel=" + ch + "&cursor=" + cursor
		}},
		"another token": {publish: 1, query: func(ch, cursor string, _ stream.Position) string {
			return "channel=" + ch + "&client=kc&token=good:bob&cursor=" + cursor
		}},
		"refused token": {publish: 1, query: func(ch, cursor string, _ stream.Position) string {
			return "channel=" + ch + "&client=kc&cursor=" + cursor // anonymous on private:
		}},
	} {
		t.Run(name, func(t *testing.T) {
			n := startNode(t, hub.Config{}, poll.Config{})
			ch := "private:fresh"
			kc, cursor := keptPoll(t, n, ch, "&token=good:pat")
			top := n.publish(t, ch, c.publish)
			q := c.query(ch, cursor, top)
			if !strings.Contains(q, "timeout=") {
				q += "&timeout=30s"
			}
			if !strings.Contains(q, "token=") && name != "refused token" {
				q += "&token=good:pat"
			}
			// The oracle: the same poll on a connection of its own. The
			// lingering session holds what was published since, so a poll
			// that took it over by mistake answers otherwise.
			oracle := n.get(t, q)
			n.client.CloseIdleConnections() // its session, if it lingers
			testkit.Eventually(t, "the oracle's session to end", func() bool { return n.Hub.Sessions() == 1 })
			closed := closedLongPolls(n)
			kc.send(t, "/connection/poll?"+q)
			status, _, body := kc.replyAny(t)
			want := string(oracle.Body)
			if name == "no client" { // each mints an id of its own
				body, want = mintedID.ReplaceAllString(body, "minted"), mintedID.ReplaceAllString(want, "minted")
			}
			if status != oracle.Status || body != want {
				t.Fatalf("kept connection answered %d %s\nfresh poll answered    %d %s", status, body, oracle.Status, oracle.Body)
			}
			// A refused poll closes its own session too.
			if got := closedLongPolls(n); got < closed+1 {
				t.Fatal("the lingering session was not closed")
			}
		})
	}
}

// TestKeptPollAfterOverflow: a lingering session whose queue goes over the
// limit between polls is ended and closed; the next poll, from the reply's
// cursor, is answered as a fresh poll is — from history — and nothing is
// lost.
func TestKeptPollAfterOverflow(t *testing.T) {
	n := startNode(t, hub.Config{QueueLimit: 512}, poll.Config{})
	c, cursor := keptPoll(t, n, "chat:over", "")
	drops := n.Hub.Stats().QueueDrops
	n.publish(t, "chat:over", 20)
	testkit.Eventually(t, "the lingering session to overflow and close", func() bool {
		return n.Hub.Stats().QueueDrops > drops && n.Hub.Sessions() == 0
	})
	q := "channel=chat:over&client=kc&timeout=30s&cursor=" + cursor
	oracle := n.get(t, q)
	c.send(t, "/connection/poll?"+q)
	_, body := c.reply(t)
	if body != string(oracle.Body) {
		t.Fatalf("after an overflow the kept connection answered %s\na fresh poll %s", body, oracle.Body)
	}
	// Follow to the end: every publication once, in order.
	want := uint64(2)
	for want <= 21 {
		for _, off := range offsets(t, body) {
			if off != want {
				t.Fatalf("got offset %d, want %d: %s", off, want, body)
			}
			want++
		}
		if want > 21 {
			break
		}
		c.send(t, "/connection/poll?channel=chat:over&client=kc&timeout=30s&cursor="+cursorIn(t, body))
		_, body = c.reply(t)
	}
}

// epochBroker is a memory broker that can deliver a publication of
// another epoch, as a broker whose channel's history was replaced does.
type epochBroker struct {
	*memory.Broker
	mu      sync.Mutex
	deliver func(*stream.Publication)
}

func (b *epochBroker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return b.Broker.Run(ctx, deliver)
}

func (b *epochBroker) repeat(p *stream.Publication) {
	b.mu.Lock()
	d := b.deliver
	b.mu.Unlock()
	d(p)
}

// TestKeptPollEpochChangeBetweenPolls: a channel's epoch changing between
// two polls of a kept connection is in the next poll's answer: the gap,
// then the new epoch's publications, each once, and the cursor in the new
// epoch.
func TestKeptPollEpochChangeBetweenPolls(t *testing.T) {
	b := &epochBroker{Broker: memory.New(memory.Config{})}
	n := startNode(t, hub.Config{Broker: b}, poll.Config{})
	c, cursor := keptPoll(t, n, "chat:ep", "")
	for off := uint64(1); off <= 2; off++ {
		b.repeat(&stream.Publication{Channel: "chat:ep", Epoch: "ep-new", Offset: off, Data: []byte(`1`)})
	}
	c.send(t, "/connection/poll?channel=chat:ep&timeout=30s&client=kc&cursor="+cursor)
	_, body := c.reply(t)
	r := decodeReply(t, testkit.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, Body: []byte(body)})
	var got []string
	for _, p := range r.Publications {
		got = append(got, fmt.Sprintf("%s:%d", p.Epoch, p.Offset))
	}
	if r.Recovered || !slices.Equal(r.Gaps, []string{"chat:ep"}) || !slices.Equal(got, []string{"ep-new:1", "ep-new:2"}) {
		t.Fatalf("after an epoch change: %s", body)
	}
	if p := r.position(t, "chat:ep"); p != (stream.Position{Epoch: "ep-new", Offset: 2}) {
		t.Fatalf("cursor at %+v", p)
	}
}

// TestKeptPollSessionClosedByWait: Handler.Wait closes the sessions that
// linger on connections waiting for their next poll.
func TestKeptPollSessionClosedByWait(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	keptPoll(t, n, "chat:w", "")
	if got := n.Hub.Sessions(); got != 1 {
		t.Fatalf("%d sessions, want the lingering one", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := n.handler.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Hub.Sessions(); got != 0 {
		t.Fatalf("%d sessions after Wait", got)
	}
}

// TestKeptPollSessionClosedAtIdleTimeout: a connection that sends no next
// poll within the server's idle timeout is closed with its session.
func TestKeptPollSessionClosedAtIdleTimeout(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{Namespaces: transporttest.Namespaces(t), Policy: testkit.Policy{}})
	handler := poll.New(poll.Config{Hub: h})
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.IdleTimeout = 200 * time.Millisecond
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
	keptAfterPoll(t, srv.URL)
	if got := h.Sessions(); got != 1 {
		t.Fatalf("%d sessions after a poll that timed out, want it lingering", got)
	}
	testkit.Eventually(t, "the lingering session to end at the idle timeout", func() bool { return h.Sessions() == 0 })
}

// TestKeptPollTimeouts: the timer a kept connection's polls share times
// each out at its own timeout: a poll with a shorter timeout than the
// last is answered at its own, and the last poll's timer, firing while a
// longer poll waits, does not answer it.
func TestKeptPollTimeouts(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	c := dialRaw(t, n.url)
	c.send(t, "/connection/poll?channel=chat:t&timeout=30s&client=kt")
	testkit.Eventually(t, "the first poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:t", 1)
	_, b := c.reply(t)
	// Shorter than the last: answered, empty, well before the last's 30s
	// (reply's deadline is testkit.Wait).
	c.send(t, "/connection/poll?channel=chat:t&timeout=100ms&client=kt&cursor="+cursorIn(t, b))
	_, b = c.reply(t)
	if got := offsets(t, b); len(got) != 0 {
		t.Fatalf("a poll that timed out answered with %v", got)
	}
	// One answered before its timeout leaves the timer armed for it; it
	// fires while the next, longer poll waits, and leaves that one
	// waiting for the publication.
	start := time.Now()
	c.send(t, "/connection/poll?channel=chat:t&timeout=300ms&client=kt&cursor="+cursorIn(t, b))
	testkit.Eventually(t, "the short poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:t", 1)
	_, b = c.reply(t)
	if got := offsets(t, b); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("the short poll answered with %v", got)
	}
	c.send(t, "/connection/poll?channel=chat:t&timeout=30s&client=kt&cursor="+cursorIn(t, b))
	testkit.Eventually(t, "the long poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	testkit.Eventually(t, "the short poll's timeout to pass", func() bool { return time.Since(start) > 600*time.Millisecond })
	n.publish(t, "chat:t", 1)
	if _, b := c.reply(t); !slices.Equal(offsets(t, b), []uint64{3}) {
		t.Fatalf("the long poll answered with %s, want the publication", b)
	}
}
