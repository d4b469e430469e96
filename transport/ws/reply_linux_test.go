//go:build linux

package ws_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// flushCounter counts the writer goroutines the handler starts.
func flushCounter(n *node) *atomic.Int64 {
	var flushes atomic.Int64
	ws.OnFlush(n.handler, func() { flushes.Add(1) })
	return &flushes
}

// A client that reads what it is sent costs no writer goroutine: the
// connect and subscribe replies are written by the reader that ran the
// command, publications by the fan-out, pings by the heartbeat, each with
// one non-blocking write.
func TestRepliesAndPingsNeedNoWriter(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 160 * time.Millisecond}, ws.Config{})
	flushes := flushCounter(n)
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:direct"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	if got := flushes.Load(); got != 0 {
		t.Fatalf("connect and subscribe started %d writer goroutines, want 0", got)
	}
	for pings := 0; pings < 3; {
		f := c.read()
		if f.Type != "ping" {
			t.Fatalf("frame %+v, want a ping", f)
		}
		pings++
		c.send(protocol.Command{Type: "pong"})
	}
	if got := flushes.Load(); got != 0 {
		t.Fatalf("three pings started %d writer goroutines, want 0", got)
	}
}

// A client that sends connect and many subscribes at once and reads
// nothing for a while still gets every reply, each exactly once and in the
// order of its commands, with the publications of each channel after its
// subscribe reply: what its socket does not take goes to the writer.
func TestSlowReaderGetsRepliesInOrder(t *testing.T) {
	const channels = 100
	n := startNode(t, hub.Config{CommandBurst: 4 * channels, MaxChannels: channels, PingInterval: time.Hour}, ws.Config{})
	c := dial(t, n, nil)
	// A small receive buffer, so the replies and publications fill it.
	_ = c.c.NetConn().(*net.TCPConn).SetReadBuffer(8 << 10)
	var batch []byte
	batch = append(batch, maskedText(protocol.AppendCommand(nil, protocol.Command{ID: 1, Type: "connect"}))...)
	for i := range channels {
		cmd := protocol.Command{ID: uint64(i + 2), Type: "subscribe", Channel: fmt.Sprintf("chat:slow%d", i)}
		batch = append(batch, maskedText(protocol.AppendCommand(nil, cmd))...)
	}
	if _, err := c.c.NetConn().Write(batch); err != nil {
		t.Fatal(err)
	}
	// Publications to every channel while the client reads nothing: once
	// subscribed, a channel's publication must follow its reply.
	payload := []byte(`"` + strings.Repeat("x", 200) + `"`)
	testkit.Eventually(t, "every subscribe was run", func() bool {
		return n.Hub.Stats().Subscriptions >= channels
	})
	for i := range channels {
		for range 20 {
			if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: fmt.Sprintf("chat:slow%d", i), Data: payload}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if f := c.readWire(); f.Type != "connect" || f.ID != 1 {
		t.Fatalf("first frame %+v, want the connect reply", f)
	}
	subscribed := make(map[string]bool)
	offsets := make(map[string]uint64)
	next := uint64(2)
	for want := channels + channels*20; want > 0; want-- {
		f := c.readWire()
		switch f.Type {
		case "subscribe":
			if f.ID != next {
				t.Fatalf("subscribe reply #%d, want #%d", f.ID, next)
			}
			next++
			subscribed[f.Channel] = true
		case "message":
			if !subscribed[f.Channel] {
				t.Fatalf("a publication of %s came before its subscribe reply", f.Channel)
			}
			if f.Offset != offsets[f.Channel]+1 {
				t.Fatalf("%s: offset %d after %d", f.Channel, f.Offset, offsets[f.Channel])
			}
			offsets[f.Channel] = f.Offset
		default:
			t.Fatalf("frame %+v", f)
		}
	}
}

// Pings due while publications stream to a client, some written directly
// and some queued behind a writer, arrive between whole publications and
// never out of order; the client answers each and stays connected.
func TestPingsAmidPublicationsKeepOrder(t *testing.T) {
	const total = 3000
	n := startNode(t, hub.Config{PingInterval: 64 * time.Millisecond, QueueLimit: 64 << 20}, ws.Config{})
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:pings"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	errs := make(chan error, 1)
	go func() {
		payload := []byte(`"` + strings.Repeat("p", 2000) + `"`)
		for range total {
			if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:pings", Data: payload}); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	pings := 0
	for want := uint64(1); want <= total; {
		f := c.read()
		switch {
		case f.Type == "ping":
			pings++
			c.send(protocol.Command{Type: "pong"})
		case f.Type == "message" && f.Offset == want:
			want++
		default:
			t.Fatalf("frame %s offset %d, want message %d", f.Type, f.Offset, want)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pings among %d publications", pings, total)
}

// A WebSocket ping from the client is answered with its pong by the
// reader, without a writer goroutine.
func TestPingFrameAnsweredWithoutWriter(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: time.Hour}, ws.Config{})
	flushes := flushCounter(n)
	c := connected(t, n)
	for i := range 3 {
		payload := []byte(fmt.Sprintf("ping %d", i))
		if err := c.c.WriteFrame(wsclient.OpPing, payload); err != nil {
			t.Fatal(err)
		}
		_ = c.c.NetConn().SetReadDeadline(time.Now().Add(testkit.Wait))
		_, op, got, err := c.c.ReadFrame()
		if err != nil || op != wsclient.OpPong || string(got) != string(payload) {
			t.Fatalf("frame %d %q, %v; want the pong %q", op, got, err, payload)
		}
	}
	if got := flushes.Load(); got != 0 {
		t.Fatalf("three pongs started %d writer goroutines, want 0", got)
	}
}
