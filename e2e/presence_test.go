package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// The demo namespace chat has presence and join/leave events on.
const presenceChannel = "chat:presence-e2e"

// presenceTTL is short so that expiry is seen within a test.
const presenceTTL = "2s"

// presWS is a WebSocket client subscribed to a channel that records the
// join and leave pushes it gets.
type presWS struct {
	id     string
	conn   *wsclient.Conn
	mu     sync.Mutex
	events []string // "join <client>" or "leave <client>"
	done   chan struct{}
}

func dialPresenceWS(t *testing.T, n *node, channel string) *presWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &presWS{conn: c, done: make(chan struct{})}
	_ = c.NetConn().SetDeadline(time.Now().Add(20 * time.Second))
	for _, cmd := range []protocol.Command{{Type: "connect", ID: 1}, {Type: "subscribe", ID: 2, Channel: channel}} {
		if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", cmd.Type, err)
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.ID != cmd.ID {
				continue
			}
			if f.Error != nil {
				t.Fatalf("%s: %v", cmd.Type, f.Error)
			}
			if cmd.Type == "connect" {
				w.id = f.Client
			}
			break
		}
	}
	_ = c.NetConn().SetDeadline(time.Time{})
	go w.read()
	t.Cleanup(w.close)
	return w
}

func (w *presWS) read() {
	defer close(w.done)
	for {
		_, b, err := w.conn.ReadMessage()
		if err != nil {
			return
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			continue
		}
		switch f.Type {
		case "ping":
			_ = w.conn.WriteText([]byte(`{"type":"pong"}`))
		case "join", "leave":
			w.mu.Lock()
			w.events = append(w.events, f.Type+" "+f.Client)
			w.mu.Unlock()
		}
	}
}

func (w *presWS) saw(event string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Contains(w.events, event)
}

func (w *presWS) close() {
	w.conn.Close()
	<-w.done
}

// presSSE is an open SSE stream; its client id is the connected event's.
type presSSE struct {
	*testkit.SSEStream
	id string
}

func openPresenceSSE(t *testing.T, n *node, channel string) *presSSE {
	t.Helper()
	resp, err := http.Get(n.URL + "/connection/sse?channel=" + url.QueryEscape(channel))
	if err != nil {
		t.Fatal(err)
	}
	s := &presSSE{SSEStream: testkit.NewSSEStream(t, resp.Body)}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sse: %s", resp.Status)
	}
	ev := s.Next()
	var c struct{ Client string }
	if err := json.Unmarshal([]byte(ev.Data), &c); ev.Event != "connected" || err != nil || c.Client == "" {
		t.Fatalf("sse opens with %+v, want the connected event", ev)
	}
	s.id = c.Client
	return s
}

func (s *presSSE) close() { s.Close() }

// presencePoll makes one short poll as the client id.
func presencePoll(t *testing.T, n *node, channel, id string) {
	t.Helper()
	var reply struct {
		Client string `json:"client"`
	}
	q := url.Values{"channel": {channel}, "timeout": {"0"}, "client": {id}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := getJSON(ctx, n.URL+"/connection/poll?"+q.Encode(), &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Client != id {
		t.Fatalf("poll answered as client %q, want %q", reply.Client, id)
	}
}

// presenceList is GET /api/presence on n, as sorted client ids.
func presenceList(t *testing.T, n *node, channel string) []string {
	t.Helper()
	var reply struct {
		Channel string `json:"channel"`
		Clients []struct {
			Client string `json:"client"`
		} `json:"clients"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.api(ctx, http.MethodGet, "/api/presence?channel="+url.QueryEscape(channel), nil, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Channel != channel {
		t.Fatalf("presence of %q answered for %q", channel, reply.Channel)
	}
	out := make([]string, 0, len(reply.Clients))
	for _, c := range reply.Clients {
		out = append(out, c.Client)
	}
	slices.Sort(out)
	return out
}

func want(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestPresenceOneNode: a WebSocket, an SSE and a polling client on one node
// all show up in /api/presence; the WebSocket client sees the others join
// and leave; the SSE client leaves when its stream closes, the polling
// client when it stops polling for longer than the TTL.
func TestPresenceOneNode(t *testing.T) {
	n := startNode(t, "--presence-ttl", presenceTTL)
	ws := dialPresenceWS(t, n, presenceChannel)
	sse := openPresenceSSE(t, n, presenceChannel)
	presencePoll(t, n, presenceChannel, "poller-1")
	all := want(ws.id, sse.id, "poller-1")
	testkit.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("presence %v", all), func() bool {
		return slices.Equal(presenceList(t, n, presenceChannel), all)
	})
	testkit.EventuallyWithin(t, 10*time.Second, "the joins", func() bool {
		return ws.saw("join "+sse.id) && ws.saw("join poller-1")
	})
	// Polling again keeps one entry for the client.
	presencePoll(t, n, presenceChannel, "poller-1")
	if got := presenceList(t, n, presenceChannel); !slices.Equal(got, all) {
		t.Fatalf("after a second poll: %v, want %v", got, all)
	}

	sse.close()
	testkit.EventuallyWithin(t, 10*time.Second, "the SSE client's leave", func() bool { return ws.saw("leave " + sse.id) })
	// The poller stopped: its entry expires after the TTL.
	testkit.EventuallyWithin(t, 20*time.Second, "the poller to expire", func() bool {
		return slices.Equal(presenceList(t, n, presenceChannel), []string{ws.id})
	})
	testkit.EventuallyWithin(t, 10*time.Second, "the poller's leave", func() bool { return ws.saw("leave poller-1") })
	ws.close()
	testkit.EventuallyWithin(t, 10*time.Second, "an empty channel", func() bool {
		return len(presenceList(t, n, presenceChannel)) == 0
	})
}

// TestPresenceTwoNodes: on two nodes sharing a broker (Redis, then NATS),
// clients of every transport on either node show up in /api/presence of
// both, joins cross nodes, and when node B is killed with SIGKILL its
// clients' entries expire after the TTL, with a leave pushed to the
// subscriber on node A.
func TestPresenceTwoNodes(t *testing.T) {
	forEachBroker(t, testPresenceTwoNodes)
}

func testPresenceTwoNodes(t *testing.T, kind brokerKind) {
	br := kind.start(t)
	a := startNode(t, "--broker", br.url, "--presence-ttl", presenceTTL)
	b := startNode(t, "--broker", br.url, "--presence-ttl", presenceTTL)
	ws := dialPresenceWS(t, a, presenceChannel)
	// The join of a client on B reaches A once A's event subscription is
	// up; a first SSE stream on B that A has seen join proves it is.
	// A stream whose join A has not seen within a second is replaced.
	var sse *presSSE
	var opened time.Time
	testkit.EventuallyWithin(t, 20*time.Second, "a join from node B on node A", func() bool {
		if sse != nil && ws.saw("join "+sse.id) {
			return true
		}
		if sse == nil || time.Since(opened) > time.Second {
			if sse != nil {
				sse.close()
			}
			sse, opened = openPresenceSSE(t, b, presenceChannel), time.Now()
		}
		return false
	})
	wsB := dialPresenceWS(t, b, presenceChannel)
	presencePoll(t, b, presenceChannel, "poller-b")
	presencePoll(t, a, presenceChannel, "poller-a")
	all := want(ws.id, sse.id, wsB.id, "poller-a", "poller-b")
	for _, n := range []*node{a, b} {
		testkit.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("presence %v on %s", all, n.URL), func() bool {
			return slices.Equal(presenceList(t, n, presenceChannel), all)
		})
	}
	testkit.EventuallyWithin(t, 10*time.Second, "the joins on A of B's clients", func() bool {
		return ws.saw("join "+wsB.id) && ws.saw("join poller-b")
	})

	// B dies without a word: A refreshes only its own entries, so B's
	// expire within the TTL (and the pollers, which stopped polling).
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.exited
	testkit.EventuallyWithin(t, 30*time.Second, "B's clients to expire", func() bool {
		return slices.Equal(presenceList(t, a, presenceChannel), []string{ws.id})
	})
	testkit.EventuallyWithin(t, 10*time.Second, "the leave of B's clients on A", func() bool {
		return ws.saw("leave "+sse.id) && ws.saw("leave "+wsB.id)
	})
}
