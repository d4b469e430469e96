package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// stallingBroker is a memory broker whose Subscribe to one channel waits
// until released, as a broker that stopped answering does.
type stallingBroker struct {
	*memory.Broker
	channel string
	entered chan struct{}
	release chan struct{}
}

func (b *stallingBroker) Subscribe(ctx context.Context, ch string) error {
	if ch == b.channel {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Broker.Subscribe(ctx, ch)
}

// A subscribe that waits on the broker holds back nothing else of its
// connection: a publication on a channel the client already has is
// delivered while the subscribe is still waiting, and the subscribe's
// reply follows once the broker answers.
func TestStalledSubscribeHoldsBackNothingElse(t *testing.T) {
	b := &stallingBroker{Broker: memory.New(memory.Config{}), channel: "chat:stalled",
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(b.release)
		}
	}
	t.Cleanup(release)
	n := startNode(t, hub.Config{Broker: b, PingInterval: time.Hour}, ws.Config{})
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:live"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	c.send(protocol.Command{ID: 99, Type: "subscribe", Channel: "chat:stalled"})
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscribe never reached the broker")
	}
	res, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:live", Data: []byte(`"while stalled"`)})
	if err != nil {
		t.Fatal(err)
	}
	// read fails the test after 5 s: the publication must not wait for
	// the broker.
	if f := c.read(); f.Type != "message" || f.Channel != "chat:live" || f.Offset != res.Offset {
		t.Fatalf("frame %+v, want chat:live's publication %d", f, res.Offset)
	}
	release()
	if f := c.read(); f.Type != "subscribe" || f.ID != 99 || f.Error != nil {
		t.Fatalf("frame %+v, want the stalled subscribe's reply", f)
	}
}
