//go:build linux

package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// countingConn counts the writes made to a socket, through the connection
// and through its raw descriptor (the direct, non-blocking writes).
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c countingConn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.Conn.(syscall.Conn).SyscallConn()
	return countingRaw{RawConn: rc, writes: c.writes}, err
}

type countingRaw struct {
	syscall.RawConn
	writes *atomic.Int64
}

func (r countingRaw) Write(f func(uintptr) bool) error {
	r.writes.Add(1)
	return r.RawConn.Write(f)
}

// serveHeads accepts connections on ln for as long as the test runs and
// serves each as the server's listener does: the request head is read,
// then ServeHead takes it. wrap wraps each accepted connection.
func serveHeads(t *testing.T, h *ws.Handler, wrap func(net.Conn) net.Conn) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc = wrap(nc)
			b := make([]byte, 4096)
			for have := 0; ; {
				m, err := nc.Read(b[have:])
				have += m
				v := h.ServeHead(nc, "/connection/websocket", b[:have])
				if v == ws.HeadServed {
					break
				}
				if v == ws.HeadDeclined || err != nil {
					t.Errorf("head not served: %v %v", v, err)
					nc.Close()
					break
				}
			}
		}
	}()
	return ln.Addr().String()
}

// command is cmd as a masked text frame (see masked).
func command(cmd protocol.Command) []byte { return masked(0x1, protocol.AppendCommand(nil, cmd)) }

// readFrames reads the 101 and then text frames until one has the given
// id, returning them all.
func readFrames(t *testing.T, br *bufio.Reader, id uint64) []protocol.Frame {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var frames []protocol.Frame
	for {
		var h [4]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			t.Fatalf("after %+v: %v", frames, err)
		}
		size := int(h[1])
		if size == 126 {
			if _, err := io.ReadFull(br, h[2:]); err != nil {
				t.Fatal(err)
			}
			size = int(binary.BigEndian.Uint16(h[2:]))
		}
		p := make([]byte, size)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		f, err := protocol.DecodeFrame(p)
		if err != nil {
			t.Fatalf("frame %q: %v", p, err)
		}
		frames = append(frames, f)
		if f.ID == id {
			return frames
		}
	}
}

// A client that sends its first commands with the upgrade request — as
// a client that connects and subscribes at once can — is answered as if
// it had waited for each reply, and in one write: the 101, the connect
// reply and the reply to the command after it leave together, which
// saves the node two writes per connection.
func TestPipelinedUpgradeIsAnsweredInOneWrite(t *testing.T) {
	const head = "GET /connection/websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	cases := []struct {
		name   string
		second []byte
		want   func(f protocol.Frame) bool
	}{
		{"subscribe", command(protocol.Command{Type: "subscribe", ID: 2, Channel: "chat:pipelined"}),
			func(f protocol.Frame) bool {
				return f.Type == "subscribe" && f.Error == nil && f.Channel == "chat:pipelined"
			}},
		{"publish", command(protocol.Command{Type: "publish", ID: 2, Channel: "chat:pipelined", Data: []byte(`{"n":1}`)}),
			func(f protocol.Frame) bool { return f.Type == "publish" && f.Error == nil && f.Offset == 1 }},
		{"unknown command", command(protocol.Command{Type: "nonsense", ID: 2}),
			func(f protocol.Frame) bool { return f.Error != nil && f.Error.Code == 104 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, hub.Config{}, ws.Config{})
			var writes atomic.Int64
			addr := serveHeads(t, n.handler, func(nc net.Conn) net.Conn { return countingConn{Conn: nc, writes: &writes} })
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(testkit.Wait))
			req := append([]byte(strings.Replace(head, "%s", addr, 1)), command(protocol.Command{Type: "connect", ID: 1})...)
			if _, err := c.Write(append(req, tc.second...)); err != nil {
				t.Fatal(err)
			}
			frames := readFrames(t, bufio.NewReader(c), 2)
			if len(frames) != 2 || frames[0].Type != "connect" || frames[0].ID != 1 || frames[0].Client == "" || !tc.want(frames[1]) {
				t.Fatalf("replies %+v", frames)
			}
			if got := writes.Load(); got != 1 {
				t.Errorf("the 101 and both replies took %d writes, want 1", got)
			}
			// The connection goes on as any other.
			if _, err := c.Write(command(protocol.Command{Type: "presence", ID: 3, Channel: "chat:pipelined"})); err != nil {
				t.Fatal(err)
			}
			var h [2]byte
			if _, err := io.ReadFull(c, h[:]); err != nil || !bytes.Equal(h[:1], []byte{0x81}) {
				t.Fatalf("after the pipelined commands: % x %v", h, err)
			}
		})
	}
}

// BenchmarkConnectPipelined is the path the server's listener gives a
// client that sends connect and subscribe with its upgrade request:
// ServeHead, the handshake, the subscribe and the replies, with the client
// (one write, then reading until the subscribe reply) in the same process.
// Compare builds with benchstat, never with a number.
func BenchmarkConnectPipelined(b *testing.B) {
	var handler *ws.Handler
	node := transporttest.Start(b, transporttest.Config{
		Handler: func(h *hub.Hub) http.Handler {
			handler = ws.New(ws.Config{Hub: h, Verifier: testkit.Verifier{}})
			return handler
		},
		Drain: func(ctx context.Context) error { return handler.Wait(ctx) },
	})
	_ = node
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			for have := 0; ; {
				m, err := nc.Read(buf[have:])
				have += m
				if v := handler.ServeHead(nc, "/connection/websocket", buf[:have]); v != ws.HeadIncomplete || err != nil {
					if v != ws.HeadServed {
						nc.Close()
					}
					break
				}
			}
		}
	}()
	addr := ln.Addr().String()
	req := []byte("GET /connection/websocket HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	req = append(req, command(protocol.Command{Type: "connect", ID: 1})...)
	req = append(req, command(protocol.Command{Type: "subscribe", ID: 2, Channel: "chat:bench"})...)
	want := []byte(`"type":"subscribe","id":2,`)
	buf := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for have := 0; !bytes.Contains(buf[:have], want); {
			m, err := c.Read(buf[have:])
			if err != nil {
				b.Fatal(err)
			}
			have += m
		}
		c.Close()
	}
}
