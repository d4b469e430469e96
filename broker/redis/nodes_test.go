package redis_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// Two brokers on one Redis and one prefix are two nodes of a cluster.
func TestNodes(t *testing.T) {
	srv := testenv.Redis(t)
	brokertest.RunNodes(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, redis.Config{Prefix: "nodes"})
	})
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
