package nats_test

import (
	"fmt"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

// TestNodes: two nodes on one NATS server race for a channel's offsets,
// which the per-subject check settles by refusing some publishes for a
// retry, and for idempotency keys.
func TestNodes(t *testing.T) {
	srv := testenv.NATS(t)
	brokertest.RunNodes(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, nats.Config{})
	})
}

// TestHoleInHistory: a publication deleted from the middle of a channel's
// stored run (by an operator, or a TTL that changed) cannot be skipped over
// silently: history starts after it, so a client that needs it is told it
// cannot recover.
func TestHoleInHistory(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv, nats.Config{})
	ctx := t.Context()
	const ch = "hole:c"
	for i := range 10 {
		if _, err := b.Publish(ctx, brokertest.Request(ch, fmt.Sprint(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, nats.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	// Find offset 5's message and delete it.
	var seq uint64
	for m, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("switchboard.c.hole:c")); ; m, err = s.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject("switchboard.c.hole:c")) {
		if err != nil {
			t.Fatal(err)
		}
		seq = m.Sequence
		if m.Header.Get("Sb-Offset") == "5" {
			break
		}
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		t.Fatal(err)
	}

	// A read that ends before the hole does not look for it; one that
	// reaches it (a client paging on from offset 3) finds it.
	latest, err := b.History(ctx, ch, stream.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	at3 := stream.Position{Epoch: latest.Latest.Epoch, Offset: 3}
	for _, q := range []stream.HistoryQuery{{Limit: -1}, {Limit: -1, Reverse: true}, {Since: &at3, Limit: 3}} {
		page, err := b.History(ctx, ch, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Earliest != 6 || page.Latest.Offset != 10 {
			t.Errorf("%+v: Earliest %d, Latest %+v; want 6 and 10", q, page.Earliest, page.Latest)
		}
		for _, p := range page.Publications {
			if p.Offset < 6 {
				t.Errorf("%+v: offset %d from before the hole", q, p.Offset)
			}
		}
		if since := (stream.Position{Epoch: page.Latest.Epoch, Offset: 2}); page.Recoverable(since) {
			t.Errorf("%+v: a position before the hole is recoverable", q)
		}
	}
}
