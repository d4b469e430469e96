package nats_test

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestUnreadableIsCounted: a live publication this node cannot read is
// counted, for /metrics (switchboard_broker_unreadable_total), and is a
// gap its subscribers see; the channel goes on after it.
func TestUnreadableIsCounted(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv, nats.Config{})
	rec := brokertest.Start(t, b)
	ctx := context.Background()
	const ch = "unreadable:c"
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, brokertest.Request(ch, `1`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the first publication", func() bool { return len(rec.Get(ch)) == 1 })
	if n := b.Unreadable(); n != 0 {
		t.Fatalf("Unreadable() = %d before anything unreadable was published", n)
	}
	if _, err := b.PublishUnreadable(ctx, brokertest.Request(ch, `"from a later version"`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the unreadable publication to be counted", func() bool { return b.Unreadable() == 1 })
	if _, err := b.Publish(ctx, brokertest.Request(ch, `3`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the publication after it", func() bool { return len(rec.Get(ch)) == 2 })
	brokertest.CheckSequence(t, "around an unreadable publication", rec.Get(ch), []uint64{1, 3})
	if n := b.Unreadable(); n != 1 {
		t.Errorf("Unreadable() = %d, want 1", n)
	}
}
