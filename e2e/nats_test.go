package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

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
		waitCondition(t, time.Minute, func() bool { return count.Load() >= n },
			func() string {
				return fmt.Sprintf("only %d publications acknowledged, waiting for %d", count.Load(), n)
			})
	}
	waitFor(20)
	ns.Shutdown()
	// The outage lasts until node B has noticed it.
	waitReady(t, http.StatusServiceUnavailable, b)
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
