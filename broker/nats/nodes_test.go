package nats_test

import (
	"fmt"
	"sync"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// TestNodesGapless: publishers on two nodes race for one channel's offsets,
// so the per-subject check refuses some of them and they retry. Every
// offset goes to exactly one publication, none is skipped, and both nodes
// deliver them all in order.
func TestNodesGapless(t *testing.T) {
	srv := testenv.NATS(t)
	nodes := []*nats.Broker{newBroker(t, srv, nats.Config{}), newBroker(t, srv, nats.Config{})}
	recs := []*brokertest.Recorder{brokertest.Start(t, nodes[0]), brokertest.Start(t, nodes[1])}
	const ch = "race:c"
	for _, n := range nodes {
		if err := n.Subscribe(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
	}
	const workers, each = 4, 50
	var (
		mu       sync.Mutex
		byOffset = map[uint64]string{}
		wg       sync.WaitGroup
	)
	for n, node := range nodes {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf(`"%d/%d/%d"`, n, w, i)
					res, err := node.Publish(t.Context(), brokertest.Request(ch, data))
					if err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					mu.Lock()
					if prev, dup := byOffset[res.Offset]; dup {
						t.Errorf("offset %d given to %s and %s", res.Offset, prev, data)
					}
					byOffset[res.Offset] = data
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = 2 * workers * each
	page, err := nodes[1].History(t.Context(), ch, stream.HistoryQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.CheckSequence(t, "history", page.Publications, brokertest.Span(1, total))
	for _, p := range page.Publications {
		if string(p.Data) != byOffset[p.Offset] {
			t.Fatalf("offset %d holds %s, its publisher sent %s", p.Offset, p.Data, byOffset[p.Offset])
		}
	}
	for i, r := range recs {
		testkit.EventuallyWithin(t, outageWait, fmt.Sprintf("node %d to deliver everything", i), func() bool { return len(r.Get(ch)) >= total })
		brokertest.CheckSequence(t, fmt.Sprintf("delivered on node %d", i), r.Get(ch), brokertest.Span(1, total))
	}
}

// TestNodesIdempotencyKey: publishers on two nodes send one key at once.
// One publication is stored; every publisher is told its position.
func TestNodesIdempotencyKey(t *testing.T) {
	srv := testenv.NATS(t)
	nodes := []*nats.Broker{newBroker(t, srv, nats.Config{}), newBroker(t, srv, nats.Config{})}
	for round := range 5 {
		ch := fmt.Sprintf("keyrace:%d", round)
		var (
			mu      sync.Mutex
			results []stream.PublishResult
			wg      sync.WaitGroup
		)
		for i := range 8 {
			node := nodes[i%2]
			wg.Go(func() {
				r := brokertest.Request(ch, fmt.Sprintf(`%d`, i))
				r.Key = "same"
				res, err := node.Publish(t.Context(), r)
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		fresh := 0
		for _, res := range results {
			if res.Position != results[0].Position {
				t.Fatalf("round %d: positions %+v and %+v for one key", round, results[0].Position, res.Position)
			}
			if !res.Duplicate {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("round %d: %d publishes were not duplicates, want 1", round, fresh)
		}
		page, err := nodes[0].History(t.Context(), ch, stream.HistoryQuery{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Publications) != 1 || page.Latest.Offset != 1 {
			t.Errorf("round %d: history holds %d publications, latest %d; want one", round, len(page.Publications), page.Latest.Offset)
		}
	}
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
