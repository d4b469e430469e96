package sse_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

func wantDisconnect(t *testing.T, d protocol.Frame, code uint32, reason string, reconnect bool) {
	t.Helper()
	if d.Code != code || d.Reason != reason || d.Reconnect != reconnect {
		t.Fatalf("disconnect %+v, want %d %q reconnect %v", d, code, reason, reconnect)
	}
}

func TestTokenExpiryEndsStream(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 160 * time.Millisecond}, sse.Config{})
	s := n.open(t, "channel=private:ann&token=brief:ann", nil)
	s.connected()
	wantDisconnect(t, s.disconnect(), 3005, "token expired", true)
}

func TestShutdownEndsStream(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	s := n.open(t, "channel=chat:a", nil)
	s.connected()
	n.publish(t, "chat:a", "1")
	s.wantPubs("chat:a", 1)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- n.Hub.Shutdown(ctx, 0)
	}()
	wantDisconnect(t, s.disconnect(), 3001, "shutdown", true)
	if err := <-done; err != nil {
		t.Fatalf("shutdown did not see the stream close its session: %v", err)
	}
	// A node shutting down opens no new streams, but answers 200 with a
	// retry and a disconnect: a browser's EventSource gives up for good on
	// any other status, and must come back (to another node).
	r := n.do(t, http.MethodGet, "channel=chat:a", nil)
	b, _ := io.ReadAll(r.Body)
	body := string(b)
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(body, "retry: ") ||
		!strings.Contains(body, "event: disconnect\ndata: {\"type\":\"disconnect\",\"code\":3001,\"reason\":\"shutdown\",\"reconnect\":true}\n\n") {
		t.Fatalf("stream while shutting down: %d %q", r.StatusCode, body)
	}
}

func TestAPIDisconnect(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	s := n.open(t, "channel=chat:a&token=good:ann", nil)
	s.connected()
	n.publish(t, "chat:a", "1")
	if got := n.Hub.DisconnectUser("ann", stream.ErrForceDisconnect); got != 1 {
		t.Fatalf("disconnected %d sessions", got)
	}
	// What was queued before the end is delivered before the disconnect.
	s.wantPubs("chat:a", 1)
	wantDisconnect(t, s.disconnect(), 3502, "disconnected", false)
}

// TestClientGoneClosesSession: a browser that goes away leaves nothing
// behind on the node.
func TestClientGoneClosesSession(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	s := n.open(t, "channel=chat:a&channel=chat:b", nil)
	s.connected()
	if n.Hub.Sessions() != 1 {
		t.Fatalf("%d sessions", n.Hub.Sessions())
	}
	s.close()
	testkit.Eventually(t, "the session and its subscriptions gone", func() bool {
		return n.Hub.Sessions() == 0 && n.Hub.Stats().Subscriptions == 0
	})
}

// TestSlowClientIsCut: a client that stops reading is disconnected once its
// queue overflows, while a client that reads gets every publication.
func TestSlowClientIsCut(t *testing.T) {
	n := startNode(t, hub.Config{QueueLimit: 64 << 10}, sse.Config{})
	slow := n.open(t, "channel=chat:firehose", nil)
	fast := n.open(t, "channel=chat:firehose", nil)
	fast.connected()

	// The fast client reads each publication before the next is sent; the
	// slow one reads nothing, so once the kernel's socket buffers are full
	// its queue overflows.
	payload := `"` + strings.Repeat("x", 32<<10) + `"`
	var total uint64
	for n.Hub.Stats().QueueDrops == 0 {
		if total == 4000 {
			t.Fatalf("slow client not cut after %d publications of 32 KiB", total)
		}
		total = n.publish(t, "chat:firehose", payload).Offset
		fast.wantPubs("chat:firehose", total)
	}
	if n.Hub.Stats().QueueDrops != 1 {
		t.Fatalf("queue drops %d, want the slow client only", n.Hub.Stats().QueueDrops)
	}
	total = n.publish(t, "chat:firehose", `"after"`).Offset
	fast.wantPubs("chat:firehose", total)

	// The slow client reads at last: a gapless prefix, then the disconnect.
	slow.connected()
	var last uint64
	for {
		ev := slow.next()
		if ev.Event == "disconnect" {
			d, _ := protocol.DecodeFrame([]byte(ev.Data))
			wantDisconnect(t, d, 3002, "slow", true)
			break
		}
		f, _ := slow.pubFrom(ev)
		if f.Offset != last+1 {
			t.Fatalf("slow client got #%d after #%d", f.Offset, last)
		}
		last = f.Offset
	}
	if last >= total {
		t.Fatalf("slow client got all %d publications", total)
	}
}

func TestPresenceEvents(t *testing.T) {
	info := &stream.ClientInfo{Client: "c1", User: "ann"}
	for _, tc := range []struct {
		join bool
		want string
	}{
		{true, "event: join\ndata: {\"type\":\"join\",\"channel\":\"chat:a\",\"client\":\"c1\",\"user\":\"ann\"}\n\n"},
		{false, "event: leave\ndata: {\"type\":\"leave\",\"channel\":\"chat:a\",\"client\":\"c1\",\"user\":\"ann\"}\n\n"},
	} {
		if got := string(sse.Encoder.Presence("chat:a", tc.join, info)); got != tc.want {
			t.Errorf("presence %q, want %q", got, tc.want)
		}
	}
	if got := string(sse.Encoder.Ping()); got != "event: ping\ndata: {}\n\n" {
		t.Errorf("ping %q", got)
	}
}

// TestStuckClientTimesOut: a client that stops reading cannot hold its
// stream's goroutine for longer than WriteTimeout, even while its queue is
// far from full.
func TestStuckClientTimesOut(t *testing.T) {
	n := startNode(t, hub.Config{QueueLimit: 1 << 30}, sse.Config{WriteTimeout: 200 * time.Millisecond})
	n.open(t, "channel=chat:firehose", nil) // never read
	payload := `"` + strings.Repeat("x", 60<<10) + `"`
	// One publication a millisecond fills the socket buffers in well under
	// a second; the write that blocks then times out.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; n.Hub.Sessions() > 0; i++ {
		if i == 10000 {
			t.Fatal("stuck client still connected")
		}
		n.publish(t, "chat:firehose", payload)
		<-tick.C
	}
	st := n.Hub.Stats()
	if st.QueueDrops != 0 || st.Disconnects[hub.DisconnectKey{Transport: "sse", Cause: stream.ErrClosed}] != 1 {
		t.Fatalf("stuck client ended with %+v", st.Disconnects)
	}
}

// TestSlowResumeIsPaged: a client that resumes from far behind and reads
// nothing makes the node hold no more than its queue limit of the replay.
// Live publications on the channel it replays do not end it (its replay
// reads them from history); those of a channel it is live on pile up in its
// queue and end it as slow, and once it reads it gets a gapless prefix of
// whole events, then the disconnect event with 3002.
func TestSlowResumeIsPaged(t *testing.T) {
	// History keeps the backlog and the live publications, so a replay the
	// live ones overtake reads them from history rather than finding it
	// trimmed under it (a gap, which ends the client as slow too, by
	// design): what is measured is the queue, not how far the replay got
	// before the live publications came.
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "chat", HistorySize: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{QueueLimit: 64 << 10, Namespaces: ns}, sse.Config{})
	backlog := `"` + strings.Repeat("b", 16<<10) + `"`
	const total = 1000
	var first stream.PublishResult
	for i := range total {
		res := n.publish(t, "chat:big", backlog)
		if i == 0 {
			first = res
		}
	}
	var from stream.Cursor
	from.Set("chat:big", stream.Position{Epoch: first.Epoch, Offset: first.Offset - 1})
	slow := n.open(t, "channel=chat:big&channel=chat:live&cursor="+string(from.AppendText(nil)), nil)

	live := `"` + strings.Repeat("l", 32<<10) + `"`
	for range 100 { // fifty times the queue limit
		n.publish(t, "chat:big", live)
	}
	if drops := n.Hub.Stats().QueueDrops; drops != 0 {
		t.Fatal("publications on the channel it replays ended a resuming client as slow")
	}
	for i := 0; n.Hub.Stats().QueueDrops == 0; i++ {
		if i == 4000 {
			t.Fatal("slow resuming client not cut")
		}
		n.publish(t, "chat:live", live)
	}

	slow.connected()
	var last uint64
	for {
		ev := slow.next()
		if ev.Event == "disconnect" {
			d, _ := protocol.DecodeFrame([]byte(ev.Data))
			wantDisconnect(t, d, 3002, "slow", true)
			break
		}
		f, _ := slow.pubFrom(ev)
		if f.Channel != "chat:big" {
			continue
		}
		if f.Offset != last+1 {
			t.Fatalf("slow client got #%d after #%d", f.Offset, last)
		}
		last = f.Offset
	}
	if last >= total {
		t.Fatalf("a client that read nothing was sent its whole replay (%d publications of 16 KiB) before being cut", last)
	}
}
