package hub_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// heldBroker is a memory broker whose Run returns only once release is
// closed: the hub's Run has stopped its own broker calls by then, while
// sessions that have not ended yet still leave their channels.
type heldBroker struct {
	*memory.Broker
	release chan struct{}
}

func (b heldBroker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	err := b.Broker.Run(ctx, deliver)
	<-b.release
	return err
}

// A node that is stopping leaves its channels as its sessions end, with
// the hub's broker calls already stopped: that is the shutdown, not a
// broker that failed, and it is not logged as a warning for every channel.
func TestShutdownLeavesChannelsQuietly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.Buffer
		b := heldBroker{Broker: memory.New(memory.Config{}), release: make(chan struct{})}
		h, err := hub.New(hub.Config{Broker: b, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		s, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: &testEncoder{}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(context.Background(), "room", hub.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
		cancel()
		synctest.Wait() // the hub's broker calls have stopped
		s.Close()
		synctest.Wait() // the node has left "room"
		close(b.release)
		if err := <-done; err != nil {
			t.Fatalf("hub.Run: %v", err)
		}
		if out := logs.String(); strings.Contains(out, "level=WARN") {
			t.Errorf("a stopping node logged warnings:\n%s", out)
		}
	})
}
