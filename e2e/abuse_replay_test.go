package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// bigChannel holds the history the replay attacks ask for from its start.
const bigChannel = "chat:big"

// replyBytes is limits.reply_bytes at its default: the most publication
// bytes one history reply holds.
const replyBytes = 1 << 20

// replyBound bounds one reply under a budget: the budget, one publication
// over it (a reply holds at least one), and the framing.
func replyBound(budget int, s abuseSizes) int { return budget + s.payload + 64<<10 }

// replayHeap bounds the node's heap under a replay attack whose replies
// have the given budget: per attacker, the publications of the reply, its
// encoding and the buffers it is written through (four times the budget,
// generously: the node holds up to about three on this machine), and the
// one page of history (100 publications) the hub may hold beyond it; and
// 8 MiB for the rest.
func replayHeap(budget int) func(abuseSizes) uint64 {
	return func(s abuseSizes) uint64 {
		return uint64(s.attackers*(4*budget+100*s.payload) + 8<<20)
	}
}

// heapSlowBound bounds the node's heap under the slow-SSE attacks, which
// publish slowSSEBytes into the history themselves.
const heapSlowBound = 32 << 20

// prepareHistory fills bigChannel with the sizes' history through the API.
func prepareHistory(t *testing.T, a *attack) {
	t.Helper()
	payload := strings.Repeat("x", a.sizes.payload-2) // a JSON string of payload bytes
	for i := range a.sizes.history {
		p, err := a.n.publish(a.ctx, bigChannel, payload)
		if err != nil {
			t.Fatalf("publication %d: %v", i, err)
		}
		a.epoch = p.Epoch
	}
}

// heldHTTP sends one request per attacker on a slow connection and holds
// them unread while the heap is sampled, then reads every answer and hands
// it to check.
func heldHTTP(t *testing.T, a *attack, target string, check func(t *testing.T, status int, body []byte)) {
	t.Helper()
	conns := make([]*rawConn, a.sizes.attackers)
	for i := range conns {
		conns[i] = dialRaw(t, a.ctx, a.n, true)
		conns[i].send(t, http.MethodGet, target, nil, "", 0)
	}
	a.hold(t)
	for _, c := range conns {
		unslow(c.Conn)
		resp, body, err := c.response(eventWait)
		if err != nil {
			t.Fatalf("reading the held answer: %v", err)
		}
		check(t, resp.StatusCode, body)
	}
}

// longPolls is finding 1: long polls from position 0 that never read.
func longPolls(t *testing.T, a *attack) {
	q := url.Values{"channel": {bigChannel}, "cursor": {positionZero(bigChannel, a.epoch)}, "timeout": {"25s"}}
	heldHTTP(t, a, "/connection/poll?"+q.Encode(), func(t *testing.T, status int, body []byte) {
		if status != http.StatusOK {
			t.Fatalf("poll answered %d %s", status, trimmed(body))
		}
		if max := replyBound(abuseQueueBytes, a.sizes); len(body) > max {
			t.Fatalf("a poll answer of %d bytes, over limits.queue_bytes (%d) and one publication", len(body), abuseQueueBytes)
		}
		var ans pollAnswer
		decodeJSON(t, body, &ans)
		if len(ans.Publications) == 0 || ans.Cursor == "" {
			t.Fatalf("a poll answer with %d publications and cursor %q: want at least one, and a cursor after the last", len(ans.Publications), ans.Cursor)
		}
		if err := contiguous(ans.Publications, 1); err != nil {
			t.Fatal(err)
		}
		cur, err := stream.ParseCursor(ans.Cursor)
		if err != nil {
			t.Fatal(err)
		}
		last := ans.Publications[len(ans.Publications)-1]
		if p, _ := cur.Get(bigChannel); p.Offset != last.Offset {
			t.Fatalf("the answer's cursor is at %d, its last publication at %d", p.Offset, last.Offset)
		}
	})
}

// historyReplies is finding 1: GET /connection/history limit=1000, never
// read.
func historyReplies(t *testing.T, a *attack) {
	heldHTTP(t, a, "/connection/history?channel="+bigChannel+"&limit=1000", func(t *testing.T, status int, body []byte) {
		if status != http.StatusOK {
			t.Fatalf("history answered %d %s", status, trimmed(body))
		}
		if max := replyBound(replyBytes, a.sizes); len(body) > max {
			t.Fatalf("a history reply of %d bytes, over limits.reply_bytes (%d) and one publication", len(body), replyBytes)
		}
		var ans historyAnswer
		decodeJSON(t, body, &ans)
		if len(ans.Publications) == 0 {
			t.Fatal("a history reply with no publication: want at least one")
		}
		if err := contiguous(ans.Publications, 1); err != nil {
			t.Fatal(err)
		}
	})
}

// sseResumes is finding 1: SSE streams resuming from position 0 that never
// read. Once read, each replays the history in order from its start, and
// either all of it or a prefix ended by a disconnect 3002 (the client
// resumes from there).
func sseResumes(t *testing.T, a *attack) {
	q := url.Values{"channel": {bigChannel}, "cursor": {positionZero(bigChannel, a.epoch)}}
	conns := make([]*rawConn, a.sizes.attackers)
	for i := range conns {
		conns[i] = dialRaw(t, a.ctx, a.n, true)
		conns[i].send(t, http.MethodGet, "/connection/sse?"+q.Encode(), nil, "", 0)
	}
	a.hold(t)
	// Every stream is read at once: one left waiting while another is read
	// would stall past sse.write_timeout, which ends it another way.
	readAll(t, len(conns), func(i int) error {
		c := conns[i]
		defer c.Close()
		unslow(c.Conn)
		_ = c.SetReadDeadline(time.Now().Add(eventWait))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("SSE resume answered %d", resp.StatusCode)
		}
		r := testkit.NewSSEReader(resp.Body)
		for next := uint64(1); next <= uint64(a.sizes.history); {
			_ = c.SetReadDeadline(time.Now().Add(testWait)) // the replay progresses, however long it is
			ev, err := r.Next()
			if err != nil {
				return fmt.Errorf("the replay ended at offset %d of %d without a disconnect event: %w", next, a.sizes.history, err)
			}
			switch {
			case ev.Event == "disconnect":
				var d struct{ Code uint32 }
				if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Code != 3002 {
					return fmt.Errorf("the replay ended with disconnect %s, want 3002", ev.Data)
				}
				return nil
			case ev.Event == "" && ev.HasData:
				var p stream.Publication
				if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
					return err
				}
				if p.Offset != next {
					return fmt.Errorf("replayed offset %d, want %d", p.Offset, next)
				}
				next++
			}
		}
		return nil
	})
}

// readAll runs read for each of n attackers at once and fails t with every
// error they return.
func readAll(t *testing.T, n int, read func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = read(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("attacker %d: %v", i, err)
		}
	}
}

func disconnectCode(t *testing.T, data string) uint32 {
	t.Helper()
	var d struct {
		Code uint32 `json:"code"`
	}
	decodeJSON(t, []byte(data), &d)
	return d.Code
}

// wsHistories is finding 1: WebSocket history limit=1000, never read. The
// reply holds at most limits.reply_bytes, or the session is ended as slow
// (3002).
func wsHistories(t *testing.T, a *attack) {
	conns := make([]*wsclient.Conn, a.sizes.attackers)
	for i := range conns {
		conns[i], _ = wsConnect(t, a.ctx, a.n, true, "")
		cmd := protocol.Command{Type: protocol.TypeHistory, ID: 2, Channel: bigChannel, Limit: 1000}
		if err := conns[i].WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	a.hold(t)
	for _, c := range conns {
		unslow(c.NetConn())
		_ = c.NetConn().SetReadDeadline(time.Now().Add(eventWait))
		for {
			_, b, err := c.ReadMessage()
			if ce, ok := err.(*wsclient.CloseError); ok {
				if ce.Code != 3002 {
					t.Fatalf("history ended the connection with %d, want a reply or 3002", ce.Code)
				}
				break
			}
			if err != nil {
				t.Fatalf("waiting for the history reply: %v", err)
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil || f.Type != protocol.TypeHistory {
				continue
			}
			if max := replyBound(replyBytes, a.sizes); len(b) > max {
				t.Fatalf("a history reply of %d bytes, over limits.reply_bytes (%d) and one publication", len(b), replyBytes)
			}
			if f.Error != nil || len(f.Publications) == 0 {
				t.Fatalf("history reply %s: want at least one publication", trimmed(b))
			}
			if err := contiguous(f.Publications, 1); err != nil {
				t.Fatal(err)
			}
			break
		}
		c.Close()
	}
}

// wsReplays is finding 1: subscribe with since = position 0, never read.
// Once read, the replay is the history in order from its start: all of it,
// or a prefix ended by close 3002.
func wsReplays(t *testing.T, a *attack) {
	conns := make([]*wsclient.Conn, a.sizes.attackers)
	for i := range conns {
		conns[i], _ = wsConnect(t, a.ctx, a.n, true, "")
		cmd := protocol.Command{Type: protocol.TypeSubscribe, ID: 2, Channel: bigChannel, Since: &stream.Position{Epoch: a.epoch}}
		if err := conns[i].WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	a.hold(t)
	// Every replay is read at once, as in sseResumes.
	readAll(t, len(conns), func(i int) error {
		c := conns[i]
		defer c.Close()
		unslow(c.NetConn())
		for next := uint64(1); next <= uint64(a.sizes.history); {
			_ = c.NetConn().SetReadDeadline(time.Now().Add(testWait)) // the replay progresses, however long it is
			_, b, err := c.ReadMessage()
			if ce, ok := err.(*wsclient.CloseError); ok {
				if ce.Code != 3002 {
					return fmt.Errorf("the replay ended with close %d, want 3002", ce.Code)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("the replay ended at offset %d of %d without a close: %w", next, a.sizes.history, err)
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil {
				return err
			}
			switch f.Type {
			case protocol.TypeSubscribe:
				if f.Error != nil {
					return fmt.Errorf("subscribe refused: %s", trimmed(b))
				}
			case protocol.TypeMessage:
				if f.Offset != next {
					return fmt.Errorf("replayed offset %d, want %d", f.Offset, next)
				}
				next++
			}
		}
		return nil
	})
}

// slowSSE is finding 11: an SSE client that stops reading while
// publications arrive is ended as slow after a gapless prefix of the
// publications. One that reads again within sse.write_timeout (the socket
// then allows it) sees whole events only, the documented `event:
// disconnect` with code 3002 last. One stalled past it (stalled) is let go
// within the timeout, and, as docs/transports.md says, may see its last
// event cut short — an EventSource drops that one and resumes after the
// last whole event — but nothing else: the whole events before it are in
// order, and a disconnect among them is 3002.
func slowSSE(t *testing.T, a *attack, stalled bool) {
	if stalled {
		a.holdOn = 2*sseWriteTimeout + time.Second
	}
	const ch = "chat:slow"
	c := dialRaw(t, a.ctx, a.n, true)
	c.send(t, http.MethodGet, "/connection/sse?channel="+ch, nil, "", 0)
	testkit.Eventually(t, "the SSE session", func() bool { return a.n.sessions(a.ctx) >= 2 })
	payload := strings.Repeat("y", a.sizes.payload-2)
	// Enough to fill the socket's buffers on both sides (a few MB on
	// loopback) and the queue, at any size: more would only make the client
	// read later.
	count := slowSSEBytes/a.sizes.payload + 1
	published := make(chan error, 1)
	go func() {
		for i := range count {
			if _, err := a.n.publish(a.ctx, ch, payload); err != nil {
				published <- fmt.Errorf("publication %d: %w", i, err)
				return
			}
		}
		published <- nil
	}()
	a.hold(t)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if stalled {
		waitCondition(t, testWait, func() bool { return a.n.sessions(a.ctx) == 1 },
			func() string {
				return fmt.Sprintf("the node still holds the stalled stream: %d sessions", a.n.sessions(a.ctx))
			})
	}
	_ = c.SetReadDeadline(time.Now().Add(eventWait))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	_, err = raw.ReadFrom(resp.Body)
	if err != nil && raw.Len() == 0 {
		t.Fatal(err)
	}
	body := raw.Bytes()
	if !bytes.HasSuffix(body, []byte("\n\n")) {
		if !stalled {
			t.Fatalf("the stream (%d bytes) was cut mid-event: it ends %s", len(body), tail(body, 80))
		}
		// The event cut short, which EventSource drops.
		body = body[:bytes.LastIndex(body, []byte("\n\n"))+2]
	}
	r := testkit.NewSSEReader(bytes.NewReader(body))
	next, last := uint64(1), testkit.SSEEvent{}
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if !ev.HasData || ev.Event == "ping" {
			continue
		}
		last = ev
		if ev.Event == "" {
			var p stream.Publication
			decodeJSON(t, []byte(ev.Data), &p)
			if p.Offset != next {
				t.Fatalf("offset %d, want %d", p.Offset, next)
			}
			next++
		}
	}
	if next > uint64(count) {
		t.Fatalf("the slow client got all %d publications: the attack did not overflow its queue", count)
	}
	if last.Event == "disconnect" || !stalled {
		if last.Event != "disconnect" || disconnectCode(t, last.Data) != 3002 {
			t.Fatalf("the stream's last event is %q %s, want disconnect 3002", last.Event, trimmed([]byte(last.Data)))
		}
	}
}

// sseWriteTimeout is sse.write_timeout in the stalled slow-SSE attack;
// sseLateTimeout in the one that reads again, long enough for the
// publications to be made first on a busy machine.
const (
	sseWriteTimeout = 2 * time.Second
	sseLateTimeout  = 30 * time.Second
)

// slowSSEBytes is how much the slow-SSE attacks publish.
const slowSSEBytes = 8 << 20

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return fmt.Sprintf("%q", b)
}
