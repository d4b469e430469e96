package ws_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

func TestSubscribeResumeAndLive(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	var pos stream.Position
	for i := 1; i <= 5; i++ {
		res, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:lobby", Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		pos = res.Position
	}
	c := connected(t, n)
	f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:lobby", Since: &stream.Position{Epoch: pos.Epoch, Offset: 2}})
	if f.Error != nil || !f.Recovered || f.Offset != 5 || f.Epoch != pos.Epoch || f.Channel != "chat:lobby" {
		t.Fatalf("subscribe reply %+v", f)
	}
	for want := uint64(3); want <= 5; want++ {
		m := c.read()
		if m.Type != "message" || m.Offset != want || m.Channel != "chat:lobby" {
			t.Fatalf("replay frame %+v, want message %d", m, want)
		}
	}
	p := c.call(protocol.Command{Type: "publish", Channel: "chat:lobby", Data: json.RawMessage(`{"text":"yo"}`), Key: "k-1"})
	if p.Error != nil || p.Offset != 6 {
		t.Fatalf("publish reply %+v", p)
	}
	m := c.read()
	if m.Type != "message" || m.Offset != 6 || string(m.Data) != `{"text":"yo"}` || m.Info == nil || m.Info.Client == "" {
		t.Fatalf("live frame %+v", m)
	}
	again := c.call(protocol.Command{Type: "publish", Channel: "chat:lobby", Data: json.RawMessage(`{"text":"yo"}`), Key: "k-1"})
	if again.Offset != 6 {
		t.Fatalf("repeated key published anew: %+v", again)
	}
	h := c.call(protocol.Command{Type: "history", Channel: "chat:lobby", Limit: 2, Reverse: true})
	if h.Error != nil || len(h.Publications) != 2 || h.Publications[0].Offset != 6 {
		t.Fatalf("history %+v", h)
	}
	u := c.call(protocol.Command{Type: "unsubscribe", Channel: "chat:lobby"})
	if u.Error != nil {
		t.Fatalf("unsubscribe %+v", u)
	}
	wantError(t, c.call(protocol.Command{Type: "unsubscribe", Channel: "chat:lobby"}), 113)
}

func TestBadInputKeepsConnection(t *testing.T) {
	n := startNode(t, hub.Config{MaxMessageSize: 1024}, ws.Config{})
	c := connected(t, n)
	other := connected(t, n)
	if f := other.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}

	raw := func(b string) protocol.Frame {
		t.Helper()
		if err := c.c.WriteText([]byte(b)); err != nil {
			t.Fatal(err)
		}
		return c.read()
	}
	wantError(t, raw(`{"type":"subscribe","id":1,`), 107)
	wantError(t, raw(`[1,2]`), 107)
	f := raw(`{"type":"teleport","id":7}`)
	wantError(t, f, 104)
	if f.ID != 7 || f.Type != "teleport" {
		t.Errorf("unknown command reply not addressed to it: %+v", f)
	}
	wantError(t, raw(`{"type":"subscribe","channel":"chat:x"}`), 107)
	wantError(t, c.call(protocol.Command{Type: "subscribe", Channel: "bad channel!"}), 111)
	wantError(t, c.call(protocol.Command{Type: "subscribe", Channel: "admin:x"}), 103)
	wantError(t, c.call(protocol.Command{Type: "subscribe", Channel: "nowhere:x"}), 102)
	wantError(t, c.call(protocol.Command{Type: "publish", Channel: "news", Data: json.RawMessage(`1`)}), 103)
	wantError(t, c.call(protocol.Command{Type: "connect"}), 107)
	wantError(t, c.call(protocol.Command{Type: "history", Channel: "chat:x", Limit: 5000}), 107)

	if err := c.c.WriteFrame(wsclient.OpBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.read(), 107)
	big := `{"type":"publish","id":99,"channel":"chat:x","data":"` + strings.Repeat("x", 8000) + `"}`
	wantError(t, raw(big), 112)
	big = `{"type":"publish","id":98,"channel":"chat:x","data":"` + strings.Repeat("x", 1500) + `"}`
	f = raw(big)
	wantError(t, f, 112)

	// Still usable, and the other client never noticed.
	if f := c.call(protocol.Command{Type: "publish", Channel: "chat:x", Data: json.RawMessage(`"ok"`)}); f.Error != nil || f.Offset != 1 {
		t.Fatalf("publish after bad input: %+v", f)
	}
	if m := other.read(); m.Type != "message" || m.Offset != 1 {
		t.Fatalf("other client got %+v", m)
	}
}

func TestConnectFirst(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	c := dial(t, n, nil)
	wantError(t, c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}), 115)
	if f := c.call(protocol.Command{Type: "connect"}); f.Error != nil {
		t.Fatalf("connect after a refused command: %+v", f)
	}
}

func TestTokens(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	good := dial(t, n, nil)
	if f := good.call(protocol.Command{Type: "connect", Token: "good:ann"}); f.Error != nil {
		t.Fatalf("good token: %+v", f)
	}
	if f := good.call(protocol.Command{Type: "refresh", Token: "good:ann"}); f.Error != nil || f.Expires == 0 {
		t.Fatalf("refresh: %+v", f)
	}
	wantError(t, good.call(protocol.Command{Type: "refresh", Token: "good:bob"}), 101)

	for _, tc := range []struct {
		token      string
		code       uint32
		disconnect uint32
		reconnect  bool
	}{
		{"forged", 101, 3500, false},
		{"expired:ann", 109, 3005, true},
	} {
		c := dial(t, n, nil)
		wantError(t, c.call(protocol.Command{Type: "connect", Token: tc.token}), tc.code)
		d, ce := c.closed()
		if d.Code != tc.disconnect || d.Reconnect != tc.reconnect || ce.Code != uint16(tc.disconnect) {
			t.Errorf("token %q: disconnect %+v close %+v", tc.token, d, ce)
		}
	}
}

func TestOriginCheck(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := wsclient.Dial(ctx, n.url, wsclient.Options{Header: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: err %v resp %v", err, resp)
	}
	if !strings.Contains(err.Error(), `"code":116`) {
		t.Errorf("refusal lacks code 116: %v", err)
	}
	host := strings.TrimPrefix(n.url, "ws://")
	connectedWith := dial(t, n, http.Header{"Origin": {"http://" + host}})
	if f := connectedWith.call(protocol.Command{Type: "connect"}); f.Error != nil {
		t.Fatalf("same-origin connect: %+v", f)
	}
}

func TestNoPongDisconnects(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 320 * time.Millisecond}, ws.Config{})
	c := connected(t, n)
	// Read pings without answering.
	d, ce := c.closed()
	if d.Code != 3003 || !d.Reconnect || ce.Code != 3003 {
		t.Fatalf("disconnect %+v close %+v, want 3003 no pong", d, ce)
	}
}

func TestPongKeepsConnection(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 160 * time.Millisecond}, ws.Config{})
	c := connected(t, n)
	for pings := 0; pings < 5; {
		f := c.read()
		if f.Type != "ping" {
			t.Fatalf("frame %+v", f)
		}
		pings++
		c.send(protocol.Command{Type: "pong"})
	}
}

func TestShutdownTellsClientsToReconnect(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Hub.Shutdown(ctx, 0)
	}()
	d, ce := c.closed()
	if d.Code != 3001 || !d.Reconnect || d.Reason != "shutdown" || ce.Code != 3001 {
		t.Fatalf("disconnect %+v close %+v", d, ce)
	}
}

func TestSlowClientIsCut(t *testing.T) {
	n := startNode(t, hub.Config{QueueLimit: 64 << 10}, ws.Config{})
	slow := connected(t, n)
	if f := slow.call(protocol.Command{Type: "subscribe", Channel: "chat:firehose"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	fast := connected(t, n)
	if f := fast.call(protocol.Command{Type: "subscribe", Channel: "chat:firehose"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	payload := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	got := make(chan error, 1)
	go func() {
		// The fast client reads everything.
		for want := uint64(1); want <= 600; want++ {
			_ = fast.c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := fast.c.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil || f.Offset != want {
				got <- err
				return
			}
		}
		got <- nil
	}()
	for i := 0; i < 600; i++ {
		if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:firehose", Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("fast client: %v", err)
	}
	// The slow client never read: it was cut, told to reconnect.
	d, _ := slow.closed()
	if d.Code != 3002 || !d.Reconnect {
		t.Fatalf("slow client disconnect %+v", d)
	}
}
