package ws_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// BenchmarkConnect dials the handler over loopback, sends connect and
// subscribe, reads both replies and closes: the path a new connection
// takes. The client runs in the same process and the upgrade goes through
// net/http (the server's own listener answers upgrades without it), so the
// time includes both; compare builds with benchstat, never with a number.
func BenchmarkConnect(b *testing.B) {
	var handler *ws.Handler
	node := transporttest.Start(b, transporttest.Config{
		Handler: func(h *hub.Hub) http.Handler {
			handler = ws.New(ws.Config{Hub: h, Verifier: testkit.Verifier{}})
			return handler
		},
		Drain: func(ctx context.Context) error { return handler.Wait(ctx) },
	})
	url := "ws" + strings.TrimPrefix(node.Server.URL, "http")
	connect := protocol.AppendCommand(nil, protocol.Command{ID: 1, Type: "connect"})
	subscribe := protocol.AppendCommand(nil, protocol.Command{ID: 2, Type: "subscribe", Channel: "chat:bench"})
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := wsclient.Dial(ctx, url, wsclient.Options{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		for _, cmd := range [][]byte{connect, subscribe} {
			if err := c.WriteText(cmd); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
	}
}
