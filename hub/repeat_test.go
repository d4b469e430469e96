package hub_test

import (
	"context"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// repeatingBroker is the memory broker with a hook to deliver a
// publication again, as a broker that fills gaps around a new Subscribe
// may (the Redis broker does).
type repeatingBroker struct {
	*memory.Broker
	mu      sync.Mutex
	deliver func(*stream.Publication)
}

func (b *repeatingBroker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return b.Broker.Run(ctx, deliver)
}

// repeat delivers p again. Call it after a Subscribe: Subscribe waits for
// the broker's Run to deliver, so deliver is set by then.
func (b *repeatingBroker) repeat(t *testing.T, p *stream.Publication) {
	t.Helper()
	b.mu.Lock()
	d := b.deliver
	b.mu.Unlock()
	if d == nil {
		t.Fatal("broker Run has not started though a Subscribe returned")
	}
	d(p)
}

// TestLateRepeatAfterReplay: a publication the broker delivers again after
// a subscription replayed it from history (the channel being new on this
// node, nothing was delivered live yet to tell it is a repeat) is not
// queued twice.
func TestLateRepeatAfterReplay(t *testing.T) {
	b := &repeatingBroker{Broker: memory.New(memory.Config{})}
	h := transporttest.RunHub(t, hub.Config{Broker: b})
	res := transporttest.PublishN(t, h, "r", 3)
	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	since := stream.Position{Epoch: res[0].Epoch, Offset: 1}
	if _, err := s.Subscribe(context.Background(), "r", hub.SubscribeOptions{Since: &since}); err != nil {
		t.Fatal(err)
	}
	for want := uint64(2); want <= 3; want++ {
		if p := d.next(t); p.Offset != want {
			t.Fatalf("replayed %d, want %d", p.Offset, want)
		}
	}
	page, err := h.History(context.Background(), "r", stream.HistoryQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	b.repeat(t, page.Publications[2])
	transporttest.PublishN(t, h, "r", 1)
	if p := d.next(t); p.Offset != 4 {
		t.Fatalf("after the repeat of 3 got offset %d, want 4", p.Offset)
	}
}
