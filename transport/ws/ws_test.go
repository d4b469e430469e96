package ws_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/transport/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	*transporttest.Node
	handler *ws.Handler
	url     string
}

// startNode runs a hub on the memory broker with the WebSocket handler in
// front of it; at the end, the handler must have closed every connection.
func startNode(t *testing.T, cfg hub.Config, wcfg ws.Config) *node {
	t.Helper()
	var handler *ws.Handler
	n := transporttest.Start(t, transporttest.Config{
		Hub: cfg,
		Handler: func(h *hub.Hub) http.Handler {
			wcfg.Hub = h
			if wcfg.Verifier == nil {
				wcfg.Verifier = testkit.Verifier{}
			}
			handler = ws.New(wcfg)
			return handler
		},
		Drain: func(ctx context.Context) error { return handler.Wait(ctx) },
	})
	return &node{Node: n, handler: handler, url: "ws" + strings.TrimPrefix(n.Server.URL, "http")}
}

type client struct {
	t       *testing.T
	c       *wsclient.Conn
	id      uint64
	pending []protocol.Frame // pushes read while waiting for a reply
}

func dial(t *testing.T, n *node, header http.Header) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsclient.Dial(ctx, n.url, wsclient.Options{Header: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

// connected dials and completes connect.
func connected(t *testing.T, n *node) *client {
	t.Helper()
	c := dial(t, n, nil)
	f := c.call(protocol.Command{Type: "connect"})
	if f.Error != nil || f.Client == "" || f.PingInterval == 0 {
		t.Fatalf("connect reply %+v", f)
	}
	return c
}

func (c *client) send(cmd protocol.Command) {
	c.t.Helper()
	if err := c.c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() protocol.Frame {
	c.t.Helper()
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f
	}
	return c.readWire()
}

func (c *client) readWire() protocol.Frame {
	c.t.Helper()
	_ = c.c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	op, b, err := c.c.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != wsclient.OpText {
		c.t.Fatalf("opcode %d", op)
	}
	f, err := protocol.DecodeFrame(b)
	if err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

// call sends a command with a fresh id and returns its reply; pushes that
// arrive first are kept for read.
func (c *client) call(cmd protocol.Command) protocol.Frame {
	c.t.Helper()
	c.id++
	cmd.ID = c.id
	c.send(cmd)
	for {
		f := c.readWire()
		switch {
		case f.Type == "ping":
		case f.ID == 0 && f.Type != "error":
			c.pending = append(c.pending, f)
		case f.ID != cmd.ID || f.Type != cmd.Type:
			c.t.Fatalf("reply to %s #%d: got %+v", cmd.Type, cmd.ID, f)
		default:
			return f
		}
	}
}

// closed reads until the server closes, returning the disconnect push and
// the close frame's error.
func (c *client) closed() (protocol.Frame, *wsclient.CloseError) {
	c.t.Helper()
	var last protocol.Frame
	for {
		_ = c.c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.c.ReadMessage()
		if err != nil {
			var ce *wsclient.CloseError
			if !errors.As(err, &ce) {
				c.t.Fatalf("connection ended without a close frame: %v", err)
			}
			return last, ce
		}
		if f, err := protocol.DecodeFrame(b); err == nil && f.Type == "disconnect" {
			last = f
		}
	}
}

func wantError(t *testing.T, f protocol.Frame, code uint32) {
	t.Helper()
	if f.Error == nil || f.Error.Code != code {
		t.Fatalf("frame %+v, want error %d", f, code)
	}
}
