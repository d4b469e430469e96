package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/server"
)

// hangGuard bounds every read of these tests: a node that does not answer
// fails the test instead of hanging it. It is no timing assertion; a
// refusal or an answer comes in milliseconds.
const hangGuard = 10 * time.Second

// TestNodeFull fills a node's sessions, then its connections, and checks
// that every client learns it at once, with its code, while health and the
// API still answer; and that the node takes clients again once some leave.
func TestNodeFull(t *testing.T) {
	const sessions, maxOpen = 20, 30
	n := newNode(t, withHub(t, hub.Config{MaxConnections: sessions}), func(c *server.Config) {
		c.MaxOpenConnections = maxOpen
	})
	// Probes close their connections, so the open count is the test's.
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path, auth string) testkit.Response {
		t.Helper()
		req := testkit.NewRequest(t, http.MethodGet, n.base+path, "")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		return testkit.Do(t, probe, req.WithContext(ctx))
	}

	clients := make([]*client, 0, sessions)
	for range sessions {
		clients = append(clients, n.dial(""))
	}
	testkit.Eventually(t, "every session registered", func() bool { return n.hub.Sessions() == sessions })

	// WebSocket: the connect is answered 118, then the connection closes
	// with 3006 (reconnect later).
	code, closeCode := wsRefusal(t, n)
	if code != 118 || closeCode != 3006 {
		t.Errorf("websocket over the session limit: error %d, close %d; want 118, 3006", code, closeCode)
	}
	// SSE: 200 with a retry and a disconnect event, so EventSource comes
	// back by itself.
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	req := testkit.NewRequest(t, http.MethodGet, n.base+"/connection/sse?channel=chat:full", "")
	resp, err := probe.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	events := testkit.NewSSEStream(t, resp.Body)
	ev := events.Next()
	if resp.StatusCode != http.StatusOK || ev.Event != "disconnect" || !strings.Contains(ev.Data, `"code":3006`) {
		t.Errorf("sse over the session limit: %d, event %+v; want 200 and a disconnect 3006", resp.StatusCode, ev)
	}
	events.Close()
	// Polls: 503 with code 118.
	testkit.WantError(t, get("/connection/poll?channel=chat:full&timeout=0", ""), http.StatusServiceUnavailable, 118)
	// Health, readiness, metrics and the API answer from the reserve.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/info"} {
		if r := get(path, "apikey "+apiKey); r.Status != http.StatusOK {
			t.Errorf("GET %s with the sessions full: %d %s", path, r.Status, r.Body)
		}
	}

	// Fill the reserve too: connections beyond the cap are closed at once.
	// Every connection asks for /healthz and is either answered (it fitted)
	// or closed without an answer (it did not); none waits.
	const extra = maxOpen - sessions + 10
	answered, refused := 0, 0
	held := make([]net.Conn, 0, extra)
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range extra {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		ok, err := testkit.AskHealth(c, hangGuard)
		switch {
		case ok:
			answered++
		case isTimeout(err):
			t.Fatalf("a connection over the cap hung: %v", err)
		default:
			refused++
		}
	}
	if answered > maxOpen-sessions || refused < extra-(maxOpen-sessions) {
		t.Errorf("%d connections past %d sessions: %d answered, %d closed; want at most %d answered",
			extra, sessions, answered, refused, maxOpen-sessions)
	}

	// Once connections close, the node takes new ones again: HTTP first,
	// then a session in a freed slot.
	for _, c := range held {
		c.Close()
	}
	held = held[:0]
	testkit.EventuallyNil(t, hangGuard, "health answers again", func() error {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			return err
		}
		defer c.Close()
		if ok, err := testkit.AskHealth(c, hangGuard); !ok {
			return errors.Join(errors.New("no answer"), err)
		}
		return nil
	})
	clients[0].conn.Close()
	testkit.Eventually(t, "a session left", func() bool { return n.hub.Sessions() < sessions })
	n.dial("")
}

// wsRefusal opens a WebSocket, sends connect and returns the error code of
// the reply and the close code that follows.
func wsRefusal(t *testing.T, n *node) (code int, closeCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	conn, _, err := wsclient.Dial(ctx, "ws"+strings.TrimPrefix(n.base, "http")+"/connection/websocket", wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.NetConn().SetDeadline(time.Now().Add(hangGuard))
	if err := conn.WriteText([]byte(`{"type":"connect","id":1}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, payload, err := conn.ReadMessage()
		var ce *wsclient.CloseError
		if errors.As(err, &ce) {
			return code, int(ce.Code)
		}
		if err != nil {
			t.Fatalf("websocket read: %v", err)
		}
		var f struct {
			ID    int `json:"id"`
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(payload, &f) == nil && f.ID == 1 && f.Error != nil {
			code = f.Error.Code
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
