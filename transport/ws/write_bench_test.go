package ws_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// BenchmarkDeliver publishes a 100-byte payload to N WebSocket subscribers
// over loopback, one publication at a time, and waits until every
// subscriber has read it: the write path from the hub's fan-out to the
// client's socket at a low rate, where each publication finds every
// connection idle. The clients run in the same process, so ns/delivery
// includes their reads; compare builds with benchstat, never with a
// number.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			benchDeliver(b, n)
		})
	}
}

func benchDeliver(b *testing.B, n int) {
	const channel = "chat:bench"
	var handler *ws.Handler
	node := transporttest.Start(b, transporttest.Config{
		Hub: hub.Config{MaxConnections: n + 10},
		Handler: func(h *hub.Hub) http.Handler {
			handler = ws.New(ws.Config{Hub: h, Verifier: testkit.Verifier{}})
			return handler
		},
		Drain: func(ctx context.Context) error { return handler.Wait(ctx) },
	})
	url := "ws" + strings.TrimPrefix(node.Server.URL, "http")
	var read sync.WaitGroup // one count per delivery still to read
	var readers sync.WaitGroup
	clients := make([]*wsclient.Conn, 0, n)
	b.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		readers.Wait()
	})
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := wsclient.Dial(ctx, url, wsclient.Options{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		for id, cmd := range []protocol.Command{{Type: "connect"}, {Type: "subscribe", Channel: channel}} {
			cmd.ID = uint64(id + 1)
			if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if strings.Contains(string(msg[:min(len(msg), 24)]), `"message"`) {
					read.Done()
				}
			}
		}()
	}
	req := stream.PublishRequest{Channel: channel, Data: []byte(`"` + strings.Repeat("x", 98) + `"`)}
	publish := func() {
		read.Add(n)
		if _, err := node.Hub.Publish(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		read.Wait()
	}
	for range 4 {
		publish()
	}
	b.ReportAllocs()
	cpu := testkit.ProcessCPU()
	for b.Loop() {
		publish()
	}
	cpu = testkit.ProcessCPU() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
	// The process's CPU time (every thread: the node's writes, the
	// clients' reads, the runtime's own threads) says more than the wall
	// time on a shared machine, where other processes take turns on the
	// same cores.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/delivery")
}
