package hub_test

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// TestEpochChangeAnnounced: the broker delivers offsets 1..3 of the
// channel's epoch, then offset 1 of another (its history was replaced, as
// by a Redis that restarted empty). Every subscriber — live from the
// start, or resumed with a replay — has the gap push queued after 3 and
// before the new epoch's first publication, naming the old position and
// the new epoch, and the new epoch's publications follow without another.
func TestEpochChangeAnnounced(t *testing.T) {
	b := &repeatingBroker{Broker: memory.New(memory.Config{})}
	h := transporttest.RunHub(t, hub.Config{Broker: b})
	ctx := context.Background()
	const ch = "e"
	enc := &testEncoder{}
	live := newSession(t, h, enc)
	dl := startDrain(live)
	if _, err := live.Subscribe(ctx, ch, hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	res := transporttest.PublishN(t, h, ch, 3)
	x1 := res[0].Epoch
	resumed := newSession(t, h, enc)
	dr := startDrain(resumed)
	if _, err := resumed.Subscribe(ctx, ch, hub.SubscribeOptions{Since: &stream.Position{Epoch: x1}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*drain{dl, dr} {
		for want := uint64(1); want <= 3; want++ {
			if p := d.next(t); p.Offset != want || p.Epoch != x1 {
				t.Fatalf("got %s:%d, want %s:%d", p.Epoch, p.Offset, x1, want)
			}
		}
	}

	const x2 = "x2-new"
	for off := uint64(1); off <= 2; off++ {
		b.repeat(t, &stream.Publication{Channel: ch, Epoch: x2, Offset: off, Data: []byte(`1`)})
	}
	want := "gap e " + x1 + ":3 -> " + x2
	for name, d := range map[string]*drain{"live": dl, "resumed": dr} {
		it := d.item(t, "gap or publication", func(it hub.Item) bool { return it.Pub != nil || it.Gap != nil })
		if it.Gap == nil {
			t.Fatalf("%s subscriber: publication %s:%d queued before any gap push", name, it.Pub.Epoch, it.Pub.Offset)
		}
		if string(it.Bytes) != want {
			t.Errorf("%s subscriber: gap push %q, want %q", name, it.Bytes, want)
		}
		if g := it.Gap; g.Channel != ch || g.From != (stream.Position{Epoch: x1, Offset: 3}) || g.Epoch != x2 {
			t.Errorf("%s subscriber: gap %+v", name, *g)
		}
		for off := uint64(1); off <= 2; off++ {
			it := d.item(t, "publication", func(it hub.Item) bool { return it.Pub != nil || it.Gap != nil })
			if it.Gap != nil || it.Pub.Epoch != x2 || it.Pub.Offset != off {
				t.Fatalf("%s subscriber: after the gap got %+v (bytes %q), want %s:%d", name, it.Pub, it.Bytes, x2, off)
			}
		}
	}
}

// TestEpochChangeWhileReplaying: a subscription still replaying when the
// epoch changes has the gap queued between the replay and the new epoch's
// buffered publications.
func TestEpochChangeWhileReplaying(t *testing.T) {
	b := &repeatingBroker{Broker: memory.New(memory.Config{})}
	h := transporttest.RunHub(t, hub.Config{Broker: b})
	ctx := context.Background()
	const ch = "r"
	res := transporttest.PublishN(t, h, ch, 2)
	x1 := res[0].Epoch
	// A held subscriber keeps the channel on the node, so the broker's
	// deliver reaches the second one while it is still subscribing.
	keep := newSession(t, h, &testEncoder{})
	if _, err := keep.Subscribe(ctx, ch, hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	reply := func(hub.SubscribeResult) []byte {
		// The reply is encoded while the subscription is attached and
		// recovering: the new epoch arrives then, and is buffered.
		b.repeat(t, &stream.Publication{Channel: ch, Epoch: "x2", Offset: 1, Data: []byte(`1`)})
		return []byte("reply")
	}
	if _, err := s.Subscribe(ctx, ch, hub.SubscribeOptions{Since: &stream.Position{Epoch: x1}, Reply: reply}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 4 {
		it := d.item(t, "gap or publication", func(it hub.Item) bool { return it.Pub != nil || it.Gap != nil })
		got = append(got, string(it.Bytes))
	}
	want := []string{"1", "2", "gap r " + x1 + ":2 -> x2", "1"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queued %q, want %q", got, want)
		}
	}
}

// TestEpochStart: a subscription with SubscribeOptions.EpochStart whose
// position names another epoch gets the channel's epoch from its start, not
// recovered, and Start says so; without it, it starts live.
func TestEpochStart(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	ctx := context.Background()
	res := transporttest.PublishN(t, h, "s", 3)
	epoch := res[0].Epoch
	old := stream.Position{Epoch: "gone", Offset: 10}

	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	r, err := s.Subscribe(ctx, "s", hub.SubscribeOptions{Since: &old, EpochStart: true, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Recovered || r.Start != (stream.Position{Epoch: epoch}) || r.Replayed != 3 {
		t.Fatalf("subscribe %+v, want not recovered, Start %s:0, 3 replayed", r, epoch)
	}
	for want := uint64(1); want <= 3; want++ {
		if p := d.next(t); p.Offset != want || p.Epoch != epoch {
			t.Fatalf("got %s:%d, want %s:%d", p.Epoch, p.Offset, epoch, want)
		}
	}

	s2 := newSession(t, h, &testEncoder{})
	r, err = s2.Subscribe(ctx, "s", hub.SubscribeOptions{Since: &old})
	if err != nil {
		t.Fatal(err)
	}
	if r.Recovered || r.Start != res[2].Position || r.Replayed != 0 {
		t.Fatalf("subscribe without EpochStart %+v, want live from %v", r, res[2].Position)
	}
}
