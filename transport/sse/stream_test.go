package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

func latest(t *testing.T, n *node, ch string) stream.Position {
	t.Helper()
	page, err := n.Hub.History(context.Background(), ch, stream.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return page.Latest
}

func TestConnectedEvent(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	for i := 0; i < 3; i++ {
		n.publish(t, "chat:a", `"before"`)
	}
	s := n.open(t, "channel=chat:a&channel=news", nil)
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Connection":        "keep-alive",
	} {
		if got := s.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	r := s.block()
	if r.Retry < 2000 || r.Retry > 4000 || r.HasData || len(r.Comments) > 0 {
		t.Fatalf("first block %+v, want a retry between 2000 and 4000", r)
	}
	ev := s.block()
	a, news := latest(t, n, "chat:a"), latest(t, n, "news")
	want := fmt.Sprintf(`{"client":"%s","channels":{"chat:a":{"epoch":%q,"offset":3,"recovered":true},"news":{"epoch":%q,"offset":0,"recovered":true}},"ping_interval":25}`,
		clientOf(t, ev.Data), a.Epoch, news.Epoch)
	if ev.Event != "connected" || ev.Data != want {
		t.Fatalf("connected event %+v\nwant data %s", ev, want)
	}
	if typ, ok := ev.Dispatched(); !ok || typ != "connected" {
		t.Errorf("connected event fires as %q %v", typ, ok)
	}
	c, err := stream.ParseCursor(ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Get("chat:a"); p != a {
		t.Errorf("connected id holds chat:a at %+v, want %+v", p, a)
	}
	if p, _ := c.Get("news"); p != news {
		t.Errorf("connected id holds news at %+v, want %+v", p, news)
	}
	if c.Len() != 2 {
		t.Errorf("connected id holds %d channels", c.Len())
	}
}

func clientOf(t *testing.T, data string) string {
	t.Helper()
	var c connected
	if err := jsonUnmarshal(data, &c); err != nil || c.Client == "" {
		t.Fatalf("connected data %q: %v", data, err)
	}
	return c.Client
}

func TestRetryJitter(t *testing.T) {
	for _, tc := range []struct {
		retry, jitter time.Duration
		min, max      int
	}{
		{0, 0, 2000, 4000},
		{100 * time.Millisecond, -1, 100, 100},
		{100 * time.Millisecond, 50 * time.Millisecond, 100, 150},
	} {
		n := startNode(t, hub.Config{}, sse.Config{Retry: tc.retry, RetryJitter: tc.jitter})
		seen := map[int]bool{}
		for i := 0; i < 5; i++ {
			s := n.open(t, "channel=news", nil)
			c := s.connected()
			if c.Retry < tc.min || c.Retry > tc.max {
				t.Errorf("retry %v+%v: %d, want %d..%d", tc.retry, tc.jitter, c.Retry, tc.min, tc.max)
			}
			seen[c.Retry] = true
			s.close()
		}
		if tc.min != tc.max && len(seen) == 1 {
			t.Errorf("retry %v+%v: five streams all got %v", tc.retry, tc.jitter, seen)
		}
	}
}

func TestLiveDelivery(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	s := n.open(t, "channel=chat:a&channel=chat:b", nil)
	c := s.connected()
	// Without a position nothing was missed: recovered is true.
	if !c.Channels["chat:a"].Recovered || len(c.Channels) != 2 {
		t.Fatalf("connected %+v", c)
	}
	type step struct {
		ch   string
		data string
	}
	steps := []step{{"chat:a", `{"text":"a1"}`}, {"chat:b", `"b1"`}, {"chat:a", `[1, 2]`}, {"chat:b", `null`}, {"chat:b", `"b3"`}}
	for _, st := range steps {
		n.publish(t, st.ch, st.data)
	}
	offsets := map[string]uint64{}
	for _, st := range steps {
		ev := s.next()
		if typ, ok := ev.Dispatched(); !ok || typ != "message" {
			t.Fatalf("publication fires as %q: %+v", typ, ev)
		}
		f, cur := s.pubFrom(ev)
		offsets[st.ch]++
		want := map[string]string{`[1, 2]`: `[1,2]`}[st.data]
		if want == "" {
			want = st.data
		}
		if f.Channel != st.ch || f.Offset != offsets[st.ch] || string(f.Data) != want || f.Time == 0 {
			t.Fatalf("got %+v, want %s #%d %s", f, st.ch, offsets[st.ch], want)
		}
		// The id holds every channel of the connection, not only this one.
		for _, ch := range []string{"chat:a", "chat:b"} {
			if p, ok := cur.Get(ch); !ok || p.Offset != offsets[ch] || p.Epoch != c.Channels[ch].Epoch {
				t.Fatalf("after %s #%d the id holds %s at %+v (%v), want %d", st.ch, f.Offset, ch, p, ok, offsets[ch])
			}
		}
	}
}

// TestResume cuts a stream after some events and reopens it with the last
// id, as a reconnecting EventSource does and as a client changing streams
// does with ?cursor=: exactly the missed publications follow, in order.
func TestResume(t *testing.T) {
	for _, via := range []string{"Last-Event-ID", "cursor"} {
		t.Run(via, func(t *testing.T) {
			n := startNode(t, hub.Config{}, sse.Config{})
			s := n.open(t, "channel=chat:a&channel=chat:b", nil)
			s.connected()
			for i := 1; i <= 3; i++ {
				n.publish(t, "chat:a", strconv.Itoa(i))
			}
			s.wantPubs("chat:a", 1, 2)
			id := s.wantPubs("chat:a", 3)
			s.close()
			for i := 4; i <= 6; i++ {
				n.publish(t, "chat:a", strconv.Itoa(i))
			}
			n.publish(t, "chat:b", `"b"`)

			query, hdr := "channel=chat:a&channel=chat:b", http.Header{}
			if via == "cursor" {
				query += "&cursor=" + id
			} else {
				// A browser reconnects to the same URL, which may carry an
				// older cursor: the header wins.
				query += "&cursor=" + cursorOf(t, map[string]stream.Position{"chat:a": {Epoch: "old", Offset: 1}})
				hdr.Set("Last-Event-ID", id)
			}
			again := n.open(t, query, hdr)
			c := again.connected()
			if st := c.Channels["chat:a"]; !st.Recovered || st.Offset != 6 {
				t.Fatalf("connected says chat:a %+v, want recovered at latest 6", st)
			}
			if st := c.Channels["chat:b"]; !st.Recovered || st.Offset != 1 {
				t.Fatalf("connected says chat:b %+v, want recovered at latest 1", st)
			}
			cur, _ := stream.ParseCursor(c.ID)
			if p, _ := cur.Get("chat:a"); p.Offset != 3 {
				t.Errorf("connected id starts chat:a at %+v, want 3", p)
			}
			seen := map[string][]uint64{}
			for range 4 {
				f, _ := again.pub()
				seen[f.Channel] = append(seen[f.Channel], f.Offset)
			}
			if fmt.Sprint(seen["chat:a"]) != "[4 5 6]" || fmt.Sprint(seen["chat:b"]) != "[1]" {
				t.Fatalf("replayed %v", seen)
			}
			n.publish(t, "chat:a", `"live"`)
			again.wantPubs("chat:a", 7)
		})
	}
}

// TestResumeRightAfterOpening resumes from the connected event's id: what was
// published before the first event is not lost.
func TestResumeRightAfterOpening(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	n.publish(t, "chat:a", "1")
	s := n.open(t, "channel=chat:a", nil)
	c := s.connected()
	s.close()
	n.publish(t, "chat:a", "2")
	n.publish(t, "chat:a", "3")
	again := n.open(t, "channel=chat:a", http.Header{"Last-Event-Id": {c.ID}})
	if st := again.connected().Channels["chat:a"]; !st.Recovered || st.Offset != 3 {
		t.Fatalf("connected %+v", st)
	}
	again.wantPubs("chat:a", 2, 3)
}

// TestResumeNotRecovered: a position older than history, or from another
// epoch, cannot be replayed. The connected event says so for that channel,
// the stream starts from the channel's latest publication, and the other
// channels resume as usual.
func TestResumeNotRecovered(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	s := n.open(t, "channel=chat:a&channel=short:x", nil)
	c := s.connected()
	s.close()
	for i := 0; i < shortHistory+3; i++ {
		n.publish(t, "short:x", strconv.Itoa(i))
	}
	n.publish(t, "chat:a", "1")

	again := n.open(t, "channel=chat:a&channel=short:x&cursor="+c.ID, nil)
	c2 := again.connected()
	if st := c2.Channels["short:x"]; st.Recovered || st.Offset != shortHistory+3 {
		t.Fatalf("short:x %+v, want not recovered at %d", st, shortHistory+3)
	}
	if st := c2.Channels["chat:a"]; !st.Recovered {
		t.Fatalf("chat:a %+v, want recovered", st)
	}
	start, _ := stream.ParseCursor(c2.ID)
	if p, _ := start.Get("short:x"); p.Offset != shortHistory+3 {
		t.Errorf("connected id starts short:x at %+v", p)
	}
	again.wantPubs("chat:a", 1)
	n.publish(t, "short:x", `"live"`)
	again.wantPubs("short:x", shortHistory+4)

	// A position from an epoch the channel no longer has.
	foreign := cursorOf(t, map[string]stream.Position{"chat:a": {Epoch: "gone", Offset: 1}})
	third := n.open(t, "channel=chat:a", http.Header{"Last-Event-Id": {foreign}})
	if st := third.connected().Channels["chat:a"]; st.Recovered || st.Offset != 1 || st.Epoch == "gone" {
		t.Fatalf("foreign epoch: %+v", st)
	}
	n.publish(t, "chat:a", "2")
	third.wantPubs("chat:a", 2)
}

// Pings are events named "ping": an onmessage handler never sees them, a
// client that listens for them knows the stream is alive.
func TestPingsAreEvents(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 80 * time.Millisecond}, sse.Config{})
	s := n.open(t, "channel=news", nil)
	s.connected()
	for pings := 0; pings < 3; {
		ev := s.block()
		if ev.Event != "ping" || ev.Data != "{}" || ev.HasID {
			t.Fatalf("want a ping event, got %+v", ev)
		}
		pings++
	}
	n.publish(t, "news", `"after pings"`)
	s.wantPubs("news", 1)
}
