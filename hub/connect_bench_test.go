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

// A subscribe to a channel the node is subscribed to already, on a broker
// that answers at once, makes no cancel context, timer or registration
// with the session's context: they are made only for a broker call that
// waits. With them, the sequence below took 28 allocations.
func TestSubscribeMakesNoContextOnAnImmediateBroker(t *testing.T) {
	ctx := t.Context()
	h, err := hub.New(hub.Config{Broker: memory.New(memory.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- h.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	enc := &frameEncoder{}
	keep, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: enc, Wake: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	if _, err := keep.Subscribe(ctx, "test:allocs", hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	reply := func(r hub.SubscribeResult) []byte { return []byte(r.Channel) }
	n := testing.AllocsPerRun(200, func() {
		s, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: enc, Wake: func() {}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, "test:allocs", hub.SubscribeOptions{Reply: reply}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	if n > 16 {
		t.Errorf("NewSession, Subscribe and Close: %v allocations, want at most 16", n)
	}
}
