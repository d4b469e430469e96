package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

// injectingBroker is the memory broker with a hook to deliver a
// publication of the test's making to the hub, as a broker whose history
// was replaced (a Redis restarted empty) delivers the new epoch's.
type injectingBroker struct {
	*memory.Broker
	mu      sync.Mutex
	deliver func(*stream.Publication)
}

func (b *injectingBroker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return b.Broker.Run(ctx, deliver)
}

func (b *injectingBroker) inject(t *testing.T, channel, epoch string, offset uint64) {
	t.Helper()
	b.mu.Lock()
	d := b.deliver
	b.mu.Unlock()
	if d == nil {
		t.Fatal("the broker is not running")
	}
	d(&stream.Publication{Channel: channel, Epoch: epoch, Offset: offset, Data: []byte(`0`)})
}

// forEachStream runs f as a parallel subtest per streaming transport: a
// publication injected at the hub reaches only a client that is connected
// (a poll between two requests reads history, where it is not). Polls are
// tested against a real broker in e2e.
func forEachStream(t *testing.T, f func(t *testing.T, tr client.Transport)) {
	t.Helper()
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.GRPC} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// TestEpochChangeIsAGap: the channel's history is replaced under a
// connected client (the node pushes a gap, then the new epoch's
// publications). Over WebSocket, SSE and gRPC, the subscription reports a Gap
// from its position to the start of the new epoch, then the new epoch's
// publications in order, and its position is in the new epoch.
func TestEpochChangeIsAGap(t *testing.T) {
	forEachStream(t, func(t *testing.T, tr client.Transport) {
		b := &injectingBroker{Broker: memory.New(memory.Config{Logger: logger()})}
		n := newNodeOn(t, b)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:epoch", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		n.publish(t, "chat:epoch", "1")
		n.publish(t, "chat:epoch", "2")
		last := n.publish(t, "chat:epoch", "3")
		expectOffsets(t, sub, 1, 3)

		b.inject(t, "chat:epoch", "x2", 1)
		b.inject(t, "chat:epoch", "x2", 2)
		gap, ok := next(t, sub).(client.Gap)
		if want := (stream.Position{Epoch: "x2"}); !ok || gap.From != last || gap.To != want {
			t.Fatalf("got %#v, want Gap from %+v to %+v", gap, last, want)
		}
		for off := uint64(1); off <= 2; off++ {
			p, ok := next(t, sub).(client.Publication)
			if !ok || p.Epoch != "x2" || p.Offset != off {
				t.Fatalf("after the gap got %#v, want x2:%d", p, off)
			}
		}
		if pos, _ := sub.Position(); pos != (stream.Position{Epoch: "x2", Offset: 2}) {
			t.Errorf("Position() = %+v, want x2:2", pos)
		}
	})
}

// TestOffsetJumpIsAGap: a publication further on in the same epoch than
// the one after the position (something between them was missed) is
// reported as a Gap before it, as an epoch change is.
func TestOffsetJumpIsAGap(t *testing.T) {
	forEachStream(t, func(t *testing.T, tr client.Transport) {
		b := &injectingBroker{Broker: memory.New(memory.Config{Logger: logger()})}
		n := newNodeOn(t, b)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:jump", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		first := n.publish(t, "chat:jump", "1")
		expectOffsets(t, sub, 1, 1)

		b.inject(t, "chat:jump", first.Epoch, 4)
		gap, ok := next(t, sub).(client.Gap)
		if want := (stream.Position{Epoch: first.Epoch, Offset: 3}); !ok || gap.From != first || gap.To != want {
			t.Fatalf("got %#v, want Gap from %+v to %+v", gap, first, want)
		}
		if p, ok := next(t, sub).(client.Publication); !ok || p.Offset != 4 {
			t.Fatalf("after the gap got %#v, want offset 4", p)
		}
	})
}
