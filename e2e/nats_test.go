package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// TestNATSNodesShareChannels: two nodes that share nothing but one NATS
// server serve one set of channels. A WebSocket subscriber on A receives
// what the API published on B, and a polling client whose polls alternate
// between the nodes sees every publication once, in order.
func TestNATSNodesShareChannels(t *testing.T) {
	ns := testenv.NATS(t)
	a := startNode(t, "--broker", ns.URL())
	b := startNode(t, "--broker", ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ch = "chat:nats"

	c, _, err := wsclient.Dial(ctx, a.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := subscribe(c, ch, nil); err != nil {
		t.Fatal(err)
	}
	p, err := b.publish(ctx, ch, map[string]string{"from": "b"})
	if err != nil {
		t.Fatal(err)
	}
	got := readMessages(t, c, 1)
	if f := got[0]; f.Offset != p.Offset || f.Epoch != p.Epoch || string(f.Data) != `{"from":"b"}` {
		t.Fatalf("node A delivered %+v, want B's publication %+v", f, p)
	}

	// Polls alternate between the nodes; every publication arrives once.
	nodes := []*node{a, b}
	cursor := cursorAt(t, ch, p.Epoch, p.Offset)
	var offsets []uint64
	const total = 30
	for i := 0; len(offsets) < total && i < 200; i++ {
		if i < total {
			if _, err := nodes[i%2].publish(ctx, ch, i); err != nil {
				t.Fatal(err)
			}
		}
		q := url.Values{"channel": {ch}, "timeout": {"0"}, "cursor": {cursor}}
		var reply struct {
			Publications []struct{ Offset uint64 } `json:"publications"`
			Cursor       string                    `json:"cursor"`
			Recovered    bool                      `json:"recovered"`
		}
		if err := getJSON(ctx, nodes[(i+1)%2].URL+"/connection/poll?"+q.Encode(), &reply); err != nil {
			t.Fatal(err)
		}
		if !reply.Recovered {
			t.Fatalf("poll %d not recovered", i)
		}
		for _, pub := range reply.Publications {
			offsets = append(offsets, pub.Offset)
		}
		cursor = reply.Cursor
	}
	for i, off := range offsets {
		if off != p.Offset+1+uint64(i) {
			t.Fatalf("polls across nodes got offsets %v: a gap or a duplicate at %d", offsets, i)
		}
	}
	if len(offsets) != total {
		t.Fatalf("polls got %d publications, want %d", len(offsets), total)
	}
}

// TestNATSReadiness: /readyz fails while NATS is down and recovers with it,
// so a load balancer sends clients elsewhere meanwhile.
func TestNATSReadiness(t *testing.T) {
	ns := testenv.NATS(t)
	n := startNode(t, "--broker", ns.URL())
	ready := func() int {
		resp, err := http.Get(n.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for ready() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not turn %d", want)
			}
			time.Sleep(50 * time.Millisecond) // polling a status, bounded by the deadline
		}
	}
	waitStatus(http.StatusOK)
	ns.Shutdown()
	waitStatus(http.StatusServiceUnavailable)
	ns.Restart()
	waitStatus(http.StatusOK)
}

// TestNATSRestartUnderLoad: the API publishes on node B (retrying each
// publication with its idempotency key until acknowledged) while a
// WebSocket subscriber listens on node A, and the NATS server is shut down
// and started again on its store. The subscriber ends with every offset
// exactly once, in order, and every acknowledged publication is there.
func TestNATSRestartUnderLoad(t *testing.T) {
	ns := testenv.NATS(t)
	a := startNode(t, "--broker", ns.URL())
	b := startNode(t, "--broker", ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ch = "chat:nats-restart"

	c, _, err := wsclient.Dial(ctx, a.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start, _, err := subscribe(c, ch, nil)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked = map[uint64]string{}
		count atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			data := strconv.Itoa(i)
			for !stop.Load() {
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				var p published
				err := b.api(pctx, http.MethodPost, "/api/publish",
					map[string]any{"channel": ch, "data": i, "key": "k" + data}, &p)
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // a publisher's pause between retries
					continue
				}
				mu.Lock()
				acked[p.Offset] = data
				mu.Unlock()
				count.Add(1)
				break
			}
		}
	})
	waitFor := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for count.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d publications acknowledged, waiting for %d", count.Load(), n)
			}
			time.Sleep(10 * time.Millisecond) // polling a counter, bounded by the deadline
		}
	}
	waitFor(20)
	ns.Shutdown()
	// The outage lasts until node B has noticed it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B stayed ready with NATS down")
		}
		time.Sleep(20 * time.Millisecond) // polling a status, bounded by the deadline
	}
	ns.Restart()
	waitFor(count.Load() + 20)
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	var last uint64
	for off := range acked {
		last = max(last, off)
	}
	want := int(last - start.Offset)
	mu.Unlock()
	frames := readMessages(t, c, want)
	for i, f := range frames {
		if f.Offset != start.Offset+1+uint64(i) || f.Epoch != start.Epoch {
			t.Fatalf("message %d is offset %d epoch %q, want offset %d epoch %q",
				i, f.Offset, f.Epoch, start.Offset+1+uint64(i), start.Epoch)
		}
		mu.Lock()
		data, ok := acked[f.Offset]
		mu.Unlock()
		if ok && string(f.Data) != data {
			t.Fatalf("offset %d delivered %s, but %s was acknowledged with it", f.Offset, f.Data, data)
		}
	}
}

// readMessages reads message frames from c until it has n of them, and
// fails on anything else that suggests loss: a gap is seen by the caller,
// an unsubscribe or a close here.
func readMessages(t *testing.T, c *wsclient.Conn, n int) []protocol.Frame {
	t.Helper()
	_ = c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.NetConn().SetReadDeadline(time.Time{})
	var out []protocol.Frame
	for len(out) < n {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case "message":
			out = append(out, f)
		case "ping":
			if err := c.WriteText([]byte(`{"type":"pong"}`)); err != nil {
				t.Fatal(err)
			}
		case "unsubscribed", "disconnect":
			t.Fatalf("after %d of %d messages: %s", len(out), n, fmt.Sprint(f))
		}
	}
	return out
}

// TestPresenceNATSNodes: on two nodes sharing a NATS server, clients of
// every transport on either node show up in /api/presence of both, joins
// cross nodes, and when node B is killed with SIGKILL its clients' entries
// expire after the TTL, with a leave pushed to the subscriber on node A.
func TestPresenceNATSNodes(t *testing.T) {
	ns := testenv.NATS(t)
	a := startNode(t, "--broker", ns.URL(), "--presence-ttl", presenceTTL)
	b := startNode(t, "--broker", ns.URL(), "--presence-ttl", presenceTTL)
	ws := dialPresenceWS(t, a, presenceChannel)
	// A's event subscription is up once it has seen a join from B.
	var sse *presSSE
	eventually(t, 20*time.Second, "a join from node B on node A", func() bool {
		if sse != nil {
			if ws.saw("join " + sse.id) {
				return true
			}
			sse.close()
		}
		sse = openPresenceSSE(t, b, presenceChannel)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if ws.saw("join " + sse.id) {
				return true
			}
			time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
		}
		return false
	})
	wsB := dialPresenceWS(t, b, presenceChannel)
	presencePoll(t, b, presenceChannel, "poller-b")
	presencePoll(t, a, presenceChannel, "poller-a")
	all := want(ws.id, sse.id, wsB.id, "poller-a", "poller-b")
	for _, n := range []*node{a, b} {
		eventually(t, 10*time.Second, fmt.Sprintf("presence %v on %s", all, n.URL), func() bool {
			return slices.Equal(presenceList(t, n, presenceChannel), all)
		})
	}
	eventually(t, 10*time.Second, "the joins on A of B's clients", func() bool {
		return ws.saw("join "+wsB.id) && ws.saw("join poller-b")
	})

	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.exited
	eventually(t, 30*time.Second, "B's clients to expire", func() bool {
		return slices.Equal(presenceList(t, a, presenceChannel), []string{ws.id})
	})
	eventually(t, 10*time.Second, "the leave of B's clients on A", func() bool {
		return ws.saw("leave "+sse.id) && ws.saw("leave "+wsB.id)
	})
}
