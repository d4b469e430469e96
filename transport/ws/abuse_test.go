package ws_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// header is a masked client frame header declaring n payload bytes, sent
// without the payload.
func header(fin bool, op byte, n uint64) []byte {
	b := []byte{op, 0x80 | 127}
	if fin {
		b[0] |= 0x80
	}
	b = binary.BigEndian.AppendUint64(b, n)
	return append(b, 1, 2, 3, 4)
}

// TestHugeFrameClosedBeforeItsPayload: a frame of any opcode that declares
// more than the node reads is refused with 3503 from its header alone, before
// and after connect. The client sends nothing after the header, so a node
// that tried to read (or skip) the payload would never answer.
func TestHugeFrameClosedBeforeItsPayload(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	ops := []struct {
		name string
		op   byte
	}{
		{"text", wsclient.OpText}, {"binary", wsclient.OpBinary}, {"continuation", 0},
		{"close", wsclient.OpClose}, {"ping", wsclient.OpPing}, {"pong", wsclient.OpPong}, {"reserved", 0x3},
	}
	for _, tc := range ops {
		for _, connect := range []bool{false, true} {
			var c *client
			if connect {
				c = connected(t, n)
			} else {
				c = dial(t, n, nil)
			}
			if _, err := c.c.NetConn().Write(header(true, tc.op, 1<<40)); err != nil {
				t.Fatal(err)
			}
			d, ce := c.closed()
			if ce.Code != 3503 || (connect && d.Code != 3503) {
				t.Errorf("%s frame of 2^40 bytes (connected %v): disconnect %+v close %+v, want 3503", tc.name, connect, d, ce)
			}
		}
	}
}

// TestBinaryFrameObeysSizeLimit: binary frames are refused (the protocol is
// JSON text), and the size rule applies to them as to text: over the limit
// is 112, not 107.
func TestBinaryFrameObeysSizeLimit(t *testing.T) {
	n := startNode(t, hub.Config{MaxMessageSize: 1024}, ws.Config{MaxFrameSize: 2048})
	c := connected(t, n)
	if err := c.c.WriteFrame(wsclient.OpBinary, bytes.Repeat([]byte{7}, 2049)); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.read(), 112)
	if err := c.c.WriteFrame(wsclient.OpBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.read(), 107)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatalf("connection unusable after refused binary frames: %+v", f)
	}
}

// flood sends count frames as fast as it can, stopping when the node stops
// reading, while a reader counts the frames the node sends back (pongs
// included) until the connection ends. It returns that count, the last
// frame, and how the connection ended: a *wsclient.CloseError, or the read
// error when the node's reset overtook its close frame (a flooding client is
// not owed its close code). A node that never ends the connection shows as
// a read timeout.
func flood(t *testing.T, c *client, frame []byte, count int) (replies int, last protocol.Frame, end error) {
	t.Helper()
	nc := c.c.NetConn()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, op, b, err := c.c.ReadFrame()
			if err != nil {
				end = err
				return
			}
			if op == wsclient.OpClose {
				ce := &wsclient.CloseError{Code: 1005}
				if len(b) >= 2 {
					ce.Code, ce.Reason = binary.BigEndian.Uint16(b), string(b[2:])
				}
				end = ce
				return
			}
			replies++
			if f, err := protocol.DecodeFrame(b); err == nil {
				last = f
			}
		}
	}()
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	batch := bytes.Repeat(frame, 100)
	for sent := 0; sent < count; sent += 100 {
		if _, err := nc.Write(batch); err != nil {
			break // the node closed the connection
		}
	}
	<-done
	return replies, last, end
}

// TestFloodsAreBounded: a client that sends frames in a loop gets at most
// its rate limit's worth of answers (pongs, error replies, 110s), then is
// closed with 3501, instead of making the node answer every frame. The rate
// is so low that only the burst counts, so the bounds do not depend on how
// fast the test runs.
func TestFloodsAreBounded(t *testing.T) {
	const burst = 20
	const frames = 40_000 // 5 MB of pings: the node would queue 40,000 pongs
	n := startNode(t, hub.Config{CommandRate: 0.001, CommandBurst: burst}, ws.Config{})
	ping := masked(wsclient.OpPing, bytes.Repeat([]byte{'p'}, 125))
	garbage := masked(wsclient.OpText, []byte(`{"type":`))
	command := masked(wsclient.OpText, []byte(`{"type":"presence","id":1,"channel":"chat:x"}`))

	for _, tc := range []struct {
		name    string
		frame   []byte
		connect bool
	}{
		{"pings", ping, true},
		{"garbage", garbage, true},
		{"commands", command, true},
		{"garbage before connect", garbage, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *client
			if tc.connect {
				c = connected(t, n)
			} else {
				c = dial(t, n, nil)
			}
			before := badRequests(n)
			replies, last, end := flood(t, c, tc.frame, frames)
			// burst frames answered, burst more refused (each command
			// answered with 110), the disconnect push; before connect
			// also the error push for the frame that closes it.
			bound := 2*burst + 2
			if replies > bound {
				t.Fatalf("%d frames: %d replies (last %+v), want at most %d", frames, replies, last, bound)
			}
			var ce *wsclient.CloseError
			switch {
			case errors.As(end, &ce):
				if ce.Code != 3501 || last.Type != "disconnect" || last.Code != 3501 || last.Reconnect {
					t.Fatalf("closed with %+v after %+v, want 3501", ce, last)
				}
			case errors.Is(end, os.ErrDeadlineExceeded):
				t.Fatalf("the node never closed the connection (%d replies)", replies)
			}
			if tc.connect {
				testkit.Eventually(t, "the session ends with 3501", func() bool { return badRequests(n) == before+1 })
			}
		})
	}
}

// badRequests counts the sessions the node ended with 3501.
func badRequests(n *node) uint64 {
	var sum uint64
	for k, v := range n.Hub.Stats().Disconnects {
		if protocol.DisconnectFor(k.Cause).Code == 3501 {
			sum += v
		}
	}
	return sum
}

// TestRateLimitedClientIsTold: a client over its rate gets 110 for each
// command refused and keeps its connection while it stays within the
// refusals it is allowed.
func TestRateLimitedClientIsTold(t *testing.T) {
	const burst = 5
	n := startNode(t, hub.Config{CommandRate: 0.001, CommandBurst: burst}, ws.Config{})
	c := connected(t, n)
	for range burst {
		if f := c.call(protocol.Command{Type: "history", Channel: "chat:x", Limit: 1}); f.Error != nil {
			t.Fatalf("under the rate: %+v", f)
		}
	}
	for range burst {
		wantError(t, c.call(protocol.Command{Type: "history", Channel: "chat:x", Limit: 1}), 110)
	}
	if err := c.c.WriteFrame(wsclient.OpPing, []byte("x")); err != nil {
		t.Fatal(err)
	}
	d, ce := c.closed()
	if d.Code != 3501 || ce.Code != 3501 || !strings.Contains(ce.Reason, "bad request") {
		t.Fatalf("over its refusals: disconnect %+v close %+v, want 3501", d, ce)
	}
}

// masked is a client frame of fewer than 126 bytes.
func masked(op byte, p []byte) []byte {
	b := []byte{0x80 | op, 0x80 | byte(len(p)), 1, 2, 3, 4}
	for i, c := range p {
		b = append(b, c^[4]byte{1, 2, 3, 4}[i&3])
	}
	return b
}

// TestStuckClientEndsSlow: a client whose socket takes nothing for
// WriteTimeout is ended as slow (3002, reconnect and resume), not counted as
// a normal close; its queue is far from full, so only the write deadline
// can end it.
func TestStuckClientEndsSlow(t *testing.T) {
	n := startNode(t, hub.Config{QueueLimit: 256 << 20}, ws.Config{WriteTimeout: 200 * time.Millisecond})
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:stuck"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	_ = c.c.NetConn().(*net.TCPConn).SetReadBuffer(4 << 10)
	slow := func() uint64 {
		var sum uint64
		for k, v := range n.Hub.Stats().Disconnects {
			if k.Transport == stream.WebSocket && protocol.DisconnectFor(k.Cause).Code == 3002 {
				sum += v
			}
		}
		return sum
	}
	payload := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	for i := 0; i < 400 && slow() == 0; i++ { // 24 MB at most, more than the socket buffers hold
		if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:stuck", Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "the stuck client ends with 3002", func() bool { return slow() == 1 })
}
