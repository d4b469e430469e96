package ws_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// A connection upgraded by ServeHead keeps whatever write deadline its
// listener set for the request head (the server's listener sets one for
// the head's read timeout). Once that has passed, the replies and
// publications are still written: the deadline is the connection's to
// manage from the upgrade on.
func TestDeadlineFromBeforeTheUpgradeIsReplaced(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	headDeadline := time.Now().Add(200 * time.Millisecond)
	served := make(chan ws.Verdict, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- ws.HeadDeclined
			return
		}
		_ = nc.SetDeadline(headDeadline)
		b := make([]byte, 4096)
		var v ws.Verdict
		for have := 0; ; {
			m, err := nc.Read(b[have:])
			have += m
			if v = n.handler.ServeHead(nc, "/connection/websocket", b[:have]); v != ws.HeadIncomplete || err != nil {
				break
			}
		}
		if v != ws.HeadServed {
			nc.Close()
		}
		served <- v
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsclient.Dial(ctx, "ws://"+ln.Addr().String()+"/connection/websocket", wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if v := <-served; v != ws.HeadServed {
		t.Fatalf("verdict %v", v)
	}
	// The head's deadline passes before the client says anything: time
	// itself is the condition here.
	time.Sleep(time.Until(headDeadline) + 50*time.Millisecond)
	cl := &client{t: t, c: c}
	if f := cl.call(protocol.Command{Type: "connect"}); f.Error != nil || f.Client == "" {
		t.Fatalf("connect reply %+v", f)
	}
	if f := cl.call(protocol.Command{Type: "subscribe", Channel: "chat:late"}); f.Error != nil {
		t.Fatalf("subscribe reply %+v", f)
	}
	if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:late", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	if f := cl.read(); f.Type != "message" || f.Offset != 1 {
		t.Fatalf("frame %+v, want the publication", f)
	}
}
