package brokertest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

func testOffsetsStartAtOne(t *testing.T, e *env) {
	ch := e.channel("c")
	var epoch string
	for i := range 5 {
		res := e.publish(t, Request(ch, fmt.Sprintf(`{"n":%d}`, i+1)))
		if res.Offset != uint64(i+1) || res.Duplicate || res.Epoch == "" {
			t.Fatalf("publish %d: got %+v, want offset %d, an epoch, not a duplicate", i+1, res, i+1)
		}
		if epoch == "" {
			epoch = res.Epoch
		}
	}
	checkPage(t, "history", e.history(t, ch, all), stream.Position{Epoch: epoch, Offset: 5}, 1, Span(1, 5))
}

// testGaplessUnderConcurrency is the guarantee clients build on: however many
// publishers race on one channel, every offset is used exactly once, history
// and deliveries agree on which publication has which, and deliveries come in
// offset order.
func testGaplessUnderConcurrency(t *testing.T, e *env) {
	ch := e.channel("c")
	e.subscribe(t, ch)
	checkGapless(t, ch, []*env{e}, 8, 200)
}

// checkGapless has workers publishers on each node race to publish each
// publications to ch, to which every node is subscribed, and checks that
// every offset went to exactly one publication, that history (read on the
// last node) and every node's deliveries hold each offset once, in order,
// with the data its publisher sent, in the epoch every publisher was told.
func checkGapless(t *testing.T, ch string, nodes []*env, workers, each int) {
	t.Helper()
	total := len(nodes) * workers * each
	var mu sync.Mutex
	byOffset := make(map[uint64]string, total)
	epochs := make(map[string]bool)
	var wg sync.WaitGroup
	for n, node := range nodes {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf(`{"n":%d,"w":%d,"i":%d}`, n, w, i)
					res, err := node.b.Publish(t.Context(), Request(ch, data))
					if err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					mu.Lock()
					if prev, dup := byOffset[res.Offset]; dup {
						t.Errorf("offset %d given to both %s and %s", res.Offset, prev, data)
					}
					byOffset[res.Offset] = data
					epochs[res.Epoch] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for o := uint64(1); o <= uint64(total); o++ {
		if _, ok := byOffset[o]; !ok {
			t.Fatalf("no publish got offset %d (of 1..%d)", o, total)
		}
	}

	page := nodes[len(nodes)-1].history(t, ch, all)
	if len(epochs) != 1 || !epochs[page.Latest.Epoch] {
		t.Errorf("publishes were told epochs %v; history says %q", slices.Collect(maps.Keys(epochs)), page.Latest.Epoch)
	}
	checkPage(t, "history", page, stream.Position{Epoch: page.Latest.Epoch, Offset: uint64(total)}, 1, Span(1, uint64(total)))
	checkData(t, "history", ch, page.Publications, byOffset)

	for i, node := range nodes {
		what := "delivered"
		if len(nodes) > 1 {
			what = fmt.Sprintf("delivered on node %d", i)
		}
		got := node.waitDelivered(t, ch, total)
		checkOffsets(t, what, Offsets(got), Span(1, uint64(total)))
		checkData(t, what, ch, got, byOffset)
	}
}

// checkData checks that each of pubs is a publication of ch holding the
// data that the publish which got its offset sent.
func checkData(t *testing.T, what, ch string, pubs []*stream.Publication, byOffset map[uint64]string) {
	t.Helper()
	for _, p := range pubs {
		if want := byOffset[p.Offset]; string(p.Data) != want || p.Channel != ch {
			t.Fatalf("%s: offset %d is %s on %q, but the publish that got it sent %s to %q", what, p.Offset, p.Data, p.Channel, want, ch)
		}
	}
}

func testEpochStable(t *testing.T, e *env) {
	ch := e.channel("c")
	e.subscribe(t, ch)
	var results []stream.PublishResult
	for i := range 3 {
		results = append(results, e.publish(t, Request(ch, fmt.Sprint(i))))
	}
	epoch := results[0].Epoch
	for _, r := range results {
		if r.Epoch != epoch {
			t.Fatalf("Publish results name epochs %q and %q", epoch, r.Epoch)
		}
	}
	page := e.history(t, ch, all)
	if page.Latest.Epoch != epoch {
		t.Errorf("History Latest epoch %q, Publish said %q", page.Latest.Epoch, epoch)
	}
	for _, p := range e.waitDelivered(t, ch, 3) {
		if p.Epoch != epoch || p.Position() != (stream.Position{Epoch: epoch, Offset: p.Offset}) {
			t.Errorf("delivered offset %d with epoch %q, Publish said %q", p.Offset, p.Epoch, epoch)
		}
	}
	if res := e.publish(t, Request(ch, "3")); res.Epoch != epoch {
		t.Errorf("epoch changed from %q to %q after a History read", epoch, res.Epoch)
	}
}

func testChannelsIndependent(t *testing.T, e *env) {
	a, b := e.channel("a"), e.channel("b")
	var gotA, gotB []uint64
	for i := range 5 {
		gotA = append(gotA, e.publish(t, Request(a, fmt.Sprint(i))).Offset)
		if i%2 == 0 {
			gotB = append(gotB, e.publish(t, Request(b, fmt.Sprint(i))).Offset)
		}
	}
	checkOffsets(t, "publish to a", gotA, Span(1, 5))
	checkOffsets(t, "publish to b", gotB, Span(1, 3))
	pa, pb := e.history(t, a, all), e.history(t, b, all)
	checkPage(t, "history of a", pa, stream.Position{Epoch: pa.Latest.Epoch, Offset: 5}, 1, Span(1, 5))
	checkPage(t, "history of b", pb, stream.Position{Epoch: pb.Latest.Epoch, Offset: 3}, 1, Span(1, 3))
	for _, p := range pb.Publications {
		if p.Channel != b {
			t.Errorf("history of %q holds a publication of %q", b, p.Channel)
		}
	}
}

// testNeverUsedChannel: a client that subscribes to a channel nobody has
// published to gets a position (epoch, 0), and must be able to resume from it
// once publications arrive.
func testNeverUsedChannel(t *testing.T, e *env) {
	ch := e.channel("c")
	page := e.history(t, ch, all)
	if page.Latest.Epoch == "" || page.Latest.Offset != 0 || page.Earliest != 1 || len(page.Publications) != 0 {
		t.Fatalf("history of a new channel: %+v; want an epoch, offset 0, Earliest 1, no publications", page)
	}
	if again := e.history(t, ch, all); again.Latest != page.Latest {
		t.Fatalf("a second read gave %+v, the first %+v", again.Latest, page.Latest)
	}
	if !page.Recoverable(page.Latest) {
		t.Errorf("position %+v of a new channel is not recoverable", page.Latest)
	}
	res := e.publish(t, Request(ch, `"first"`))
	if res.Position != (stream.Position{Epoch: page.Latest.Epoch, Offset: 1}) {
		t.Fatalf("first publish: %+v; want offset 1 in epoch %q from History", res.Position, page.Latest.Epoch)
	}
	since := page.Latest
	after := e.history(t, ch, stream.HistoryQuery{Since: &since, Limit: -1})
	if !after.Recoverable(since) || len(after.Publications) != 1 || string(after.Publications[0].Data) != `"first"` {
		t.Errorf("resuming from %+v: recoverable %v, %d publications; want true and the first",
			since, after.Recoverable(since), len(after.Publications))
	}
}
