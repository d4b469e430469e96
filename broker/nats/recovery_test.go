package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

const outageWait = 30 * time.Second

// TestServerRestartMidRun: two nodes publish to and subscribe to one
// channel while the NATS server is shut down and started again on its
// store. Every publication a node acknowledged is in history afterwards,
// offsets stay gapless in one epoch, and both nodes' subscribers end with
// every offset exactly once, in order.
func TestServerRestartMidRun(t *testing.T) {
	srv := testenv.NATS(t)
	a := newBroker(t, srv, nats.Config{})
	b := newBroker(t, srv, nats.Config{})
	ra, rb := brokertest.Start(t, a), brokertest.Start(t, b)
	const ch = "restart:c"
	ctx := t.Context()
	for _, n := range []*nats.Broker{a, b} {
		if err := n.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}

	// Publishers retry each publication with its idempotency key until a
	// node acknowledges it, as an application backend would.
	var (
		mu    sync.Mutex
		acked = map[uint64]string{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		count atomic.Int64
	)
	for w, node := range []*nats.Broker{a, b} {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				data := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
				r := brokertest.Request(ch, data)
				r.Key = data
				for !stop.Load() {
					pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					res, err := node.Publish(pctx, r)
					cancel()
					if err != nil {
						continue
					}
					mu.Lock()
					if prev, dup := acked[res.Offset]; dup && prev != data {
						t.Errorf("offset %d acknowledged for %s and %s", res.Offset, prev, data)
					}
					acked[res.Offset] = data
					mu.Unlock()
					count.Add(1)
					break
				}
			}
		})
	}
	waitCount := func(n int64) {
		t.Helper()
		testkit.EventuallyWithin(t, outageWait, fmt.Sprintf("%d acknowledged publications", n), func() bool { return count.Load() >= n })
	}
	waitCount(20)
	srv.Shutdown()
	testkit.EventuallyWithin(t, outageWait, "both nodes to notice", func() bool { return !a.Healthy() && !b.Healthy() })
	if err := a.Ping(ctx); err == nil {
		t.Error("Ping succeeded with NATS down")
	}
	srv.Restart()
	testkit.EventuallyWithin(t, outageWait, "both nodes to be healthy again", func() bool { return a.Healthy() && b.Healthy() })
	waitCount(count.Load() + 20)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	page, err := a.History(ctx, ch, stream.HistoryQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := page.Latest.Offset
	brokertest.CheckSequence(t, "history after the restart", page.Publications, brokertest.Span(1, n))
	mu.Lock()
	for off, data := range acked {
		if off == 0 || off > n {
			t.Errorf("acknowledged offset %d is not in history (latest %d)", off, n)
			continue
		}
		if got := string(page.Publications[off-1].Data); got != data {
			t.Errorf("offset %d holds %s, but %s was acknowledged with it", off, got, data)
		}
	}
	mu.Unlock()
	for name, r := range map[string]*brokertest.Recorder{"a": ra, "b": rb} {
		testkit.EventuallyWithin(t, outageWait, "node "+name+" to deliver everything", func() bool { return uint64(len(r.Get(ch))) >= n })
		brokertest.CheckSequence(t, "delivered on node "+name, r.Get(ch), brokertest.Span(1, n))
	}
}

// TestConnectionCut: one node loses its connection (a proxy cuts it and
// refuses new ones) while the other keeps publishing. Once it is back, the
// node delivers what it missed from history without waiting for another
// publication.
func TestConnectionCut(t *testing.T) {
	srv := testenv.NATS(t)
	proxy := testenv.NewProxy(t, srv.Addr())
	cut := newBroker(t, srv, nats.Config{URL: "nats://" + proxy.Addr()})
	other := newBroker(t, srv, nats.Config{})
	rc := brokertest.Start(t, cut)
	brokertest.Start(t, other)
	const ch = "cut:c"
	ctx := t.Context()
	if err := cut.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		t.Helper()
		for range n {
			if _, err := other.Publish(ctx, brokertest.Request(ch, `"x"`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(3)
	testkit.EventuallyWithin(t, outageWait, "3 deliveries", func() bool { return len(rc.Get(ch)) == 3 })

	proxy.SetBlocked(true)
	proxy.CutAll()
	testkit.EventuallyWithin(t, outageWait, "the cut node to notice", func() bool { return !cut.Healthy() })
	publish(5)
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := cut.Publish(sctx, brokertest.Request(ch, `"cut"`)); err == nil {
		t.Error("Publish succeeded on a node without a connection")
	}
	cancel()
	proxy.SetBlocked(false)
	testkit.EventuallyWithin(t, outageWait, "the cut node to be healthy again", cut.Healthy)
	testkit.EventuallyWithin(t, outageWait, "8 deliveries", func() bool { return len(rc.Get(ch)) >= 8 })
	brokertest.CheckSequence(t, "delivered", rc.Get(ch), brokertest.Span(1, 8))
}

// TestStreamLost: a stream kept in memory is gone after NATS restarts. The
// broker creates it again, every channel starts a new epoch at offset 1,
// and subscribers get the new epoch's publications.
func TestStreamLost(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv, nats.Config{MemoryStorage: true})
	r := brokertest.Start(t, b)
	const ch = "lost:c"
	ctx := t.Context()
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	old, err := b.Publish(ctx, brokertest.Request(ch, `"old"`))
	if err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, outageWait, "the first delivery", func() bool { return len(r.Get(ch)) == 1 })

	srv.Restart()
	testkit.EventuallyWithin(t, outageWait, "the node to be healthy again", b.Healthy)
	var res stream.PublishResult
	testkit.EventuallyWithin(t, outageWait, "a publish to succeed", func() bool {
		res, err = b.Publish(ctx, brokertest.Request(ch, `1`))
		return err == nil
	})
	if res.Epoch == old.Epoch || res.Offset != 1 {
		t.Fatalf("first publish after losing the stream: %+v, want offset 1 in a new epoch", res.Position)
	}
	for i := 2; i <= 3; i++ {
		if got, err := b.Publish(ctx, brokertest.Request(ch, strconv.Itoa(i))); err != nil || got.Position != (stream.Position{Epoch: res.Epoch, Offset: uint64(i)}) {
			t.Fatalf("publish %d: %+v, %v", i, got, err)
		}
	}
	testkit.EventuallyWithin(t, outageWait, "the new epoch's deliveries", func() bool { return len(r.Get(ch)) >= 4 })
	got := r.Get(ch)
	if got[0].Position() != old.Position {
		t.Errorf("first delivery %+v, want %+v", got[0].Position(), old.Position)
	}
	brokertest.CheckSequence(t, "delivered in the new epoch", got[1:], brokertest.Span(1, 3))
	if got[1].Epoch != res.Epoch {
		t.Errorf("delivered epoch %q, want %q", got[1].Epoch, res.Epoch)
	}
}

// TestSubscribeWaitsForRun: Subscribe before Run waits for it, and fails
// with the context's error when Run never comes.
func TestSubscribeWaitsForRun(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv, nats.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := b.Subscribe(ctx, "wait:c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe without Run: %v, want DeadlineExceeded", err)
	}
	if b.Healthy() {
		t.Error("Healthy before Run")
	}
	brokertest.Start(t, b)
	if err := b.Subscribe(t.Context(), "wait:c"); err != nil {
		t.Fatal(err)
	}
	if !b.Healthy() {
		t.Error("not Healthy while Run delivers")
	}
}
