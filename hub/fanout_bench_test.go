package hub_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// frameEncoder encodes a publication the way a wire format does: one new
// slice per publication, shared by every subscriber.
type frameEncoder struct{}

func (*frameEncoder) Publication(p *stream.Publication) []byte {
	b := make([]byte, 0, 64+len(p.Channel)+len(p.Data))
	b = append(b, p.Channel...)
	b = strconv.AppendUint(append(b, ' '), p.Offset, 10)
	return append(append(b, ' '), p.Data...)
}
func (*frameEncoder) Ping() []byte                                     { return nil }
func (*frameEncoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }
func (*frameEncoder) Gap(*hub.Gap) []byte                              { return []byte("gap") }
func (*frameEncoder) Unsubscribed(string, error) []byte                { return []byte("unsubscribed") }

// BenchmarkFanout publishes a 100-byte payload to one channel with N local
// subscribers and drains every queue, as the session writers would: the
// hub's whole cost of a publication, from Publish to the bytes in each
// writer's hands. ns/delivery is ns/op divided by N; allocs/op must not
// grow with N (one encoding per publication, none per subscriber).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10_000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h, err := hub.New(hub.Config{Broker: memory.New(memory.Config{}), MaxConnections: n + 1})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- h.Run(ctx) }()
			defer func() { cancel(); <-done }()

			enc := &frameEncoder{}
			sessions := make([]*hub.Session, n)
			for i := range sessions {
				s, err := h.NewSession(hub.SessionOptions{Transport: "bench", Encoder: enc, Wake: func() {}})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if _, err := s.Subscribe(ctx, "bench:fanout", hub.SubscribeOptions{}); err != nil {
					b.Fatal(err)
				}
				sessions[i] = s
			}
			// Each writer alternates two buffers, as transport/ws does.
			bufs := make([][2][]hub.Item, n)
			req := stream.PublishRequest{Channel: "bench:fanout", Data: []byte(`"` + strings.Repeat("x", 98) + `"`)}
			k := 0
			publish := func() {
				if _, err := h.Publish(ctx, req); err != nil {
					b.Fatal(err)
				}
				for i, s := range sessions {
					items := s.Take(bufs[i][k&1])
					if len(items) != 1 {
						b.Fatalf("session %d took %d items, want 1", i, len(items))
					}
					bufs[i][k&1] = items
				}
				k++
			}
			// Warm up: every queue and buffer at its steady-state size.
			for range 4 {
				publish()
			}
			b.ReportAllocs()
			for b.Loop() {
				publish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}
