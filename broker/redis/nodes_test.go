package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// Two brokers on one Redis are two nodes: what one publishes, the other
// delivers and reads back, with the same positions, and an idempotency key
// used on one is known to the other.
func TestTwoNodes(t *testing.T) {
	srv := testenv.Redis(t)
	cfg := redis.Config{Prefix: "nodes"}
	a, b := newBroker(t, srv, cfg), newBroker(t, srv, cfg)
	ra, rb := brokertest.Start(t, a), brokertest.Start(t, b)
	const ch = "chat:room"
	must(t, a.Subscribe(context.Background(), ch))
	must(t, b.Subscribe(context.Background(), ch))

	var sent []stream.PublishResult
	for i := range 10 {
		node := a
		if i%3 == 2 {
			node = b // both nodes publish to the one sequence of offsets
		}
		sent = append(sent, publish(t, node, brokertest.Request(ch, fmt.Sprintf(`{"n":%d}`, i+1))))
	}
	for i, res := range sent {
		if res.Offset != uint64(i+1) || res.Epoch != sent[0].Epoch {
			t.Fatalf("publish %d got %+v; want offset %d in epoch %q", i+1, res.Position, i+1, sent[0].Epoch)
		}
	}
	for _, r := range []*brokertest.Recorder{ra, rb} {
		testkit.Eventually(t, "both nodes to deliver all 10", func() bool { return len(r.Get(ch)) >= 10 })
		brokertest.CheckSequence(t, "delivered", r.Get(ch), brokertest.Span(1, 10))
		if got := r.Get(ch)[0]; got.Epoch != sent[0].Epoch || string(got.Data) != `{"n":1}` {
			t.Errorf("first delivery %+v, want epoch %q and data {\"n\":1}", got, sent[0].Epoch)
		}
	}

	page := history(t, b, ch, all)
	if page.Latest != sent[9].Position || page.Earliest != 1 || len(page.Publications) != 10 {
		t.Fatalf("history read on the other node: Latest %+v, Earliest %d, %d publications",
			page.Latest, page.Earliest, len(page.Publications))
	}
	for i, p := range page.Publications {
		if want := fmt.Sprintf(`{"n":%d}`, i+1); string(p.Data) != want || p.Channel != ch {
			t.Errorf("history offset %d: %s on %q, want %s", p.Offset, p.Data, p.Channel, want)
		}
	}

	keyed := brokertest.Request(ch, `"once"`)
	keyed.Key = "k-1"
	first := publish(t, a, keyed)
	if again := publish(t, b, keyed); !again.Duplicate || again.Position != first.Position {
		t.Errorf("the key used on node A, repeated on node B: %+v, want %+v with Duplicate", again, first.Position)
	}
}

// Brokers with different prefixes share a Redis without seeing each other.
func TestPrefixesIsolated(t *testing.T) {
	srv := testenv.Redis(t)
	a := newBroker(t, srv, redis.Config{Prefix: "tenant-a"})
	b := newBroker(t, srv, redis.Config{Prefix: "tenant-b"})
	rb := brokertest.Start(t, b)
	const ch = "news"
	must(t, b.Subscribe(context.Background(), ch))
	for range 3 {
		publish(t, a, brokertest.Request(ch, `"a"`))
	}
	res := publish(t, b, brokertest.Request(ch, `"b"`))
	if res.Offset != 1 {
		t.Errorf("first publish under another prefix got offset %d", res.Offset)
	}
	testkit.Eventually(t, "b's own publication", func() bool { return len(rb.Get(ch)) == 1 })
	if got := rb.Get(ch); string(got[0].Data) != `"b"` {
		t.Errorf("delivered %s under prefix tenant-b", got[0].Data)
	}
}

// The keys of a channel are those the package documentation lists, share
// one hash tag, and expire as documented.
func TestKeyLayout(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{Prefix: "sb", IdleTTL: time.Hour})
	pttl := func(key string) int64 {
		t.Helper()
		got, err := srv.Do("PTTL", key)
		must(t, err)
		n, err := strconv.ParseInt(got, 10, 64)
		must(t, err)
		return n
	}
	near := func(what string, got int64, want time.Duration) {
		t.Helper()
		if w := want.Milliseconds(); got > w || got < w-60_000 {
			t.Errorf("%s: PTTL %dms, want about %dms", what, got, w)
		}
	}

	r := brokertest.Request("ttl:c", `1`)
	r.HistoryTTL, r.Key = 10*time.Minute, "k"
	res := publish(t, b, r)
	near("meta", pttl("{sb:ttl:c}:meta"), 10*time.Minute+time.Hour)
	near("history", pttl("{sb:ttl:c}:history"), 10*time.Minute)
	near("key", pttl("{sb:ttl:c}:key:k"), stream.DefaultKeyTTL)
	if got, _ := srv.Do("GET", "{sb:ttl:c}:key:k"); got != res.Epoch+" 1" {
		t.Errorf("idempotency key holds %q, want %q", got, res.Epoch+" 1")
	}
	if got, _ := srv.Do("HGET", "{sb:ttl:c}:meta", "e"); got != res.Epoch {
		t.Errorf("meta epoch %q, Publish said %q", got, res.Epoch)
	}

	// History kept without a time limit: the channel is never forgotten.
	r = brokertest.Request("forever:c", `1`)
	r.HistoryTTL = 0
	publish(t, b, r)
	if got := pttl("{sb:forever:c}:meta"); got != -1 {
		t.Errorf("meta of a channel with unlimited history: PTTL %d, want -1 (no expiry)", got)
	}
	if got := pttl("{sb:forever:c}:history"); got != -1 {
		t.Errorf("unlimited history: PTTL %d, want -1", got)
	}

	// No history: no stream, and the meta lives for the idle period.
	r = brokertest.Request("none:c", `1`)
	r.HistorySize = 0
	publish(t, b, r)
	if got := pttl("{sb:none:c}:history"); got != -2 {
		t.Errorf("history of a channel that keeps none: PTTL %d, want -2 (no key)", got)
	}
	near("meta without history", pttl("{sb:none:c}:meta"), stream.DefaultKeyTTL+time.Hour)

	// Reading history of a new channel starts its epoch, for the idle period.
	history(t, b, "read:c", stream.HistoryQuery{})
	near("meta created by a read", pttl("{sb:read:c}:meta"), time.Hour)
}

func TestSubscribeWaitsForRun(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{})
	if b.Healthy() {
		t.Error("Healthy before Run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Subscribe(ctx, "norun:c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe without Run: %v, want the context's deadline", err)
	}
	publish(t, b, brokertest.Request("norun:c", `1`))
	r := brokertest.Start(t, b)
	must(t, b.Subscribe(context.Background(), "norun:c"))
	publish(t, b, brokertest.Request("norun:c", `2`))
	testkit.Eventually(t, "delivery after Run started", func() bool { return len(r.Get("norun:c")) == 1 })
	brokertest.CheckSequence(t, "delivered", r.Get("norun:c"), []uint64{2})
}

func TestRunOnce(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{})
	brokertest.Start(t, b)
	if err := b.Run(context.Background(), func(*stream.Publication) {}); err == nil {
		t.Error("a second concurrent Run returned nil")
	}
	if err := b.Run(context.Background(), nil); err == nil {
		t.Error("Run with a nil deliver returned nil")
	}
}

// Run stops delivering when its context ends, and a later Run delivers what
// the subscribed channels missed meanwhile, before anything newer.
func TestRunAgain(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{})
	const ch = "again:c"
	r := &brokertest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, r.Deliver) }()
	must(t, b.Subscribe(ctx, ch))
	publish(t, b, brokertest.Request(ch, `1`))
	testkit.Eventually(t, "the first Run to deliver", func() bool { return len(r.Get(ch)) == 1 })
	cancel()
	must(t, <-done)
	if b.Healthy() {
		t.Error("Healthy after Run returned")
	}
	publish(t, b, brokertest.Request(ch, `2`))
	if got := len(r.Get(ch)); got != 1 {
		t.Fatalf("%d deliveries after Run returned", got-1)
	}

	r2 := brokertest.Start(t, b)
	publish(t, b, brokertest.Request(ch, `3`))
	testkit.Eventually(t, "the second Run to deliver", func() bool { return len(r2.Get(ch)) == 2 })
	brokertest.CheckSequence(t, "second Run", r2.Get(ch), []uint64{2, 3})
}

// TestPingCancelled: Ping, which the suite does not know, wraps the
// context's error like every other call.
func TestPingCancelled(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping on a cancelled context: %v", err)
	}
}
