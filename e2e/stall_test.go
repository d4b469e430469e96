package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// TestRedisStalled: a Redis stopped with SIGSTOP keeps its connections
// open and answers nothing. The node does not hang on it: WebSocket
// subscribes get an error reply with 117 within about twice broker_timeout,
// a short poll answers 503/117, /readyz turns 503; once Redis goes on,
// /readyz is 200 again and a subscribe works; and SIGTERM while Redis is
// stopped again, with a subscribe waiting for it, shuts down cleanly within
// shutdown_timeout.
func TestRedisStalled(t *testing.T) {
	rs := testenv.Redis(t)
	const brokerTimeout = time.Second
	n := startNode(t, "--broker", rs.URL(), "--broker-timeout", brokerTimeout.String(),
		"--shutdown-drain", "100ms", "--shutdown-timeout", "4s")
	waitReady(t, http.StatusOK, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	paused := false
	defer func() {
		if paused {
			rs.Resume()
		}
	}()
	rs.Pause()
	paused = true

	// Two clients subscribe to one new channel at once: one starts the
	// node's subscription at Redis, the other waits for it. Both are told.
	var wg sync.WaitGroup
	codes := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = subscribeCode(ctx, n, "stalled", 2*brokerTimeout+3*time.Second)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != "117" {
			t.Errorf("WebSocket client %d subscribing while Redis is stopped: %s, want an error reply with code 117", i, c)
		}
	}

	status, code := stalledPoll(ctx, t, n, "stalled")
	if status != http.StatusServiceUnavailable || code != 117 {
		t.Errorf("short poll while Redis is stopped: %d/%d, want 503/117", status, code)
	}
	waitCondition(t, 5*time.Second, func() bool { return n.readyz() == http.StatusServiceUnavailable },
		func() string { return fmt.Sprintf("/readyz did not turn 503 while Redis is stopped\n%s", n.logs) })

	rs.Resume()
	paused = false
	waitCondition(t, 10*time.Second, func() bool { return n.readyz() == http.StatusOK },
		func() string { return fmt.Sprintf("/readyz did not turn 200 once Redis went on\n%s", n.logs) })
	if c := subscribeCode(ctx, n, "stalled", 10*time.Second); c != "ok" {
		t.Fatalf("subscribe once Redis went on: %s", c)
	}

	// Shutdown while Redis is stopped, with a subscribe waiting for it.
	c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := subscribe(c, "before", nil); err != nil {
		t.Fatal(err)
	}
	rs.Pause()
	paused = true
	if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: "subscribe", ID: 3, Channel: "during"})); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("node did not exit within 15s of SIGTERM with Redis stopped (shutdown_timeout 4s)\n%s", n.logs)
	}
	t.Logf("shutdown with Redis stopped took %v", time.Since(start).Round(time.Millisecond))
	if n.err != nil || strings.Contains(n.logs.String(), "shutdown incomplete") {
		t.Fatalf("shutdown with Redis stopped: %v\n%s", n.err, n.logs)
	}
}

// subscribeCode connects a WebSocket client and subscribes it to channel,
// returning "ok", the error reply's code, or what went wrong — "no reply"
// when none came within d.
func subscribeCode(ctx context.Context, n *node, channel string, d time.Duration) string {
	c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	_ = c.NetConn().SetDeadline(time.Now().Add(d))
	for _, cmd := range []protocol.Command{{Type: "connect", ID: 1}, {Type: "subscribe", ID: 2, Channel: channel}} {
		if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			return "write: " + err.Error()
		}
	}
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return fmt.Sprintf("no reply within %v: %v", d, err)
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			return "decode: " + err.Error()
		}
		if f.ID != 2 {
			continue
		}
		if f.Error != nil {
			return fmt.Sprint(f.Error.Code)
		}
		return "ok"
	}
}

// stalledPoll polls channel once without waiting and returns the status and
// the error code of the answer (0 when it has none).
func stalledPoll(ctx context.Context, t *testing.T, n *node, channel string) (int, uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/connection/poll?timeout=0&channel="+channel, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("short poll: no answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var reply struct {
		Error *protocol.Error `json:"error"`
	}
	_ = json.Unmarshal(body, &reply)
	if reply.Error == nil {
		return resp.StatusCode, 0
	}
	return resp.StatusCode, reply.Error.Code
}
