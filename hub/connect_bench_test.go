package hub_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
)

// BenchmarkConnectSubscribe is the hub's part of a WebSocket client that
// connects and subscribes: NewSession, Subscribe with a reply and no
// position on a channel the node is subscribed to already (100 channels,
// as `switchboard bench connect` spreads its clients), then Close.
func BenchmarkConnectSubscribe(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(hub.Config{Broker: memory.New(memory.Config{})})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()

	enc := &frameEncoder{}
	channels := make([]string, 100)
	for i := range channels {
		channels[i] = "bench:connect" + strconv.Itoa(i)
		// A session that stays keeps each channel subscribed at the broker.
		s, err := h.NewSession(hub.SessionOptions{Transport: "bench", Encoder: enc, Wake: func() {}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Subscribe(ctx, channels[i], hub.SubscribeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reply := func(r hub.SubscribeResult) []byte { return []byte(r.Channel) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s, err := h.NewSession(hub.SessionOptions{Transport: "bench", Encoder: enc, Wake: func() {}, RequirePong: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, channels[i%len(channels)], hub.SubscribeOptions{Reply: reply}); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
