package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// outageWait bounds each wait around an outage, which includes the
// broker's reconnect backoff.
const outageWait = 20 * time.Second

// subscribed is a broker on srv, running and subscribed to ch.
func subscribed(t *testing.T, srv *testenv.RedisServer, ch string) (*redis.Broker, *brokertest.Recorder) {
	t.Helper()
	b := newBroker(t, srv, redis.Config{})
	r := brokertest.Start(t, b)
	must(t, b.Subscribe(context.Background(), ch))
	return b, r
}

// restart kills srv, checks what b says while it is gone, starts srv again
// on its data and waits for b to be delivering and answering again.
func restart(t *testing.T, srv *testenv.RedisServer, b *redis.Broker) {
	t.Helper()
	srv.Kill()
	down(t, b)
	srv.Restart()
	up(t, b)
}

// down checks what a node says while its Redis is gone: not healthy, Ping
// and Publish fail as unavailable, and Subscribe waits (here, until its
// context gives up).
func down(t *testing.T, b *redis.Broker) {
	t.Helper()
	testkit.EventuallyWithin(t, outageWait, "Healthy to turn false", func() bool { return !b.Healthy() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Ping(ctx); !errors.Is(err, stream.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping while Redis is down: %v, want stream.ErrUnavailable", err)
	}
	if _, err := b.Publish(ctx, brokertest.Request("down:c", `1`)); err == nil {
		t.Error("Publish succeeded while Redis is down")
	}
	if err := b.Subscribe(ctx, "down:c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Subscribe while Redis is down: %v, want it to wait until its context ends", err)
	}
}

// up waits for a node to be delivering again, and answering: a command
// connection that the outage broke may fail once more before it is
// replaced.
func up(t *testing.T, b *redis.Broker) {
	t.Helper()
	testkit.EventuallyWithin(t, outageWait, "Healthy to turn true", b.Healthy)
	testkit.EventuallyWithin(t, outageWait, "Ping to succeed", func() bool { return b.Ping(context.Background()) == nil })
}

// With persistence on, a Redis that crashes and comes back has every
// acknowledged publication: same epoch, nothing lost, and delivery carries
// on from where it was.
func TestRestartWithPersistence(t *testing.T) {
	srv := testenv.Redis(t, testenv.RedisAppendOnly())
	const ch = "durable:c"
	b, r := subscribed(t, srv, ch)
	var before []stream.PublishResult
	for i := range 5 {
		before = append(before, publish(t, b, brokertest.Request(ch, strconv.Itoa(i+1))))
	}
	testkit.EventuallyWithin(t, outageWait, "5 deliveries", func() bool { return len(r.Get(ch)) == 5 })

	restart(t, srv, b)

	page := history(t, b, ch, all)
	if page.Latest != before[4].Position || page.Earliest != 1 || len(page.Publications) != 5 {
		t.Fatalf("after restart: Latest %+v, Earliest %d, %d publications; want %+v, 1, 5",
			page.Latest, page.Earliest, len(page.Publications), before[4].Position)
	}
	for i := range 3 {
		res := publish(t, b, brokertest.Request(ch, strconv.Itoa(6+i)))
		if res.Epoch != before[0].Epoch || res.Offset != uint64(6+i) {
			t.Fatalf("publish after restart: %+v, want offset %d in epoch %q", res.Position, 6+i, before[0].Epoch)
		}
	}
	testkit.EventuallyWithin(t, outageWait, "8 deliveries", func() bool { return len(r.Get(ch)) >= 8 })
	brokertest.CheckSequence(t, "delivered", r.Get(ch), brokertest.Span(1, 8))
}

// Without persistence, Redis comes back empty: the channel's epoch changes,
// which is how subscribers learn their positions no longer apply, and
// publications after the restart are delivered in the new epoch.
func TestRestartWithoutPersistence(t *testing.T) {
	srv := testenv.Redis(t)
	const ch = "volatile:c"
	b, r := subscribed(t, srv, ch)
	old := publish(t, b, brokertest.Request(ch, `"old"`))
	testkit.EventuallyWithin(t, outageWait, "the first delivery", func() bool { return len(r.Get(ch)) == 1 })

	restart(t, srv, b)

	page := history(t, b, ch, all)
	if page.Latest.Epoch == old.Epoch || page.Latest.Offset != 0 || len(page.Publications) != 0 {
		t.Fatalf("after losing its data: Latest %+v with %d publications; want a new epoch at offset 0",
			page.Latest, len(page.Publications))
	}
	for i := range 3 {
		if res := publish(t, b, brokertest.Request(ch, strconv.Itoa(i+1))); res.Position != (stream.Position{Epoch: page.Latest.Epoch, Offset: uint64(i + 1)}) {
			t.Fatalf("publish after restart: %+v, want offset %d in epoch %q", res.Position, i+1, page.Latest.Epoch)
		}
	}
	testkit.EventuallyWithin(t, outageWait, "the new epoch's deliveries", func() bool { return len(r.Get(ch)) >= 4 })
	got := r.Get(ch)
	if got[0].Position() != old.Position {
		t.Errorf("first delivery %+v, want %+v", got[0].Position(), old.Position)
	}
	brokertest.CheckSequence(t, "delivered in the new epoch", got[1:], brokertest.Span(1, 3))
	if got[1].Epoch != page.Latest.Epoch {
		t.Errorf("delivered epoch %q after the restart, want %q", got[1].Epoch, page.Latest.Epoch)
	}
}

// Redis losing a channel without dropping the connection (an eviction, a
// FLUSHALL) shows up as a new epoch too.
func TestChannelLostWhileConnected(t *testing.T) {
	srv := testenv.Redis(t)
	const ch = "evicted:c"
	b, r := subscribed(t, srv, ch)
	first := publish(t, b, brokertest.Request(ch, `1`))
	publish(t, b, brokertest.Request(ch, `2`))
	if _, err := srv.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	var next []stream.PublishResult
	for i := range 3 {
		next = append(next, publish(t, b, brokertest.Request(ch, strconv.Itoa(i+1))))
	}
	if next[0].Epoch == first.Epoch || next[0].Offset != 1 {
		t.Fatalf("after FLUSHALL: %+v, want offset 1 in a new epoch", next[0].Position)
	}
	testkit.EventuallyWithin(t, outageWait, "5 deliveries", func() bool { return len(r.Get(ch)) >= 5 })
	got := r.Get(ch)
	brokertest.CheckSequence(t, "before", got[:2], brokertest.Span(1, 2))
	brokertest.CheckSequence(t, "after", got[2:], brokertest.Span(1, 3))
	if got[2].Epoch != next[0].Epoch {
		t.Errorf("delivered epoch %q after the flush, want %q", got[2].Epoch, next[0].Epoch)
	}
}

// publishing publishes n publications to ch from a goroutine of its own,
// one after another, counting them as they are acknowledged. Redis is up
// throughout: only the subscriber's connections are cut.
func publishing(t *testing.T, b *redis.Broker, ch string, n int) (count *atomic.Int64, done <-chan struct{}) {
	t.Helper()
	count = new(atomic.Int64)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range n {
			if _, err := b.Publish(context.Background(), brokertest.Request(ch, fmt.Sprintf(`{"i":%d}`, i+1))); err != nil {
				t.Errorf("publish %d: %v", i+1, err)
				return
			}
			count.Add(1)
		}
	}()
	t.Cleanup(func() { <-finished })
	return count, finished
}

// Redis closing the pub/sub connection (here, on command) while
// publications flow: after each repair the subscriber has every offset,
// exactly once, in order.
func TestPubSubConnectionKilled(t *testing.T) {
	srv := testenv.Redis(t)
	pub := newBroker(t, srv, redis.Config{})
	sub := newBroker(t, srv, redis.Config{})
	r := brokertest.Start(t, sub)
	const ch, total, kills = "cut:c", 3000, 5
	must(t, sub.Subscribe(context.Background(), ch))

	count, done := publishing(t, pub, ch, total)
	for k := 1; k <= kills; k++ {
		testkit.EventuallyWithin(t, outageWait, "publishing to go on", func() bool { return count.Load() >= int64(k*total/(kills+1)) })
		testkit.EventuallyWithin(t, outageWait, "the subscriber to be connected", sub.Healthy)
		n, err := srv.Do("CLIENT", "KILL", "TYPE", "pubsub")
		if err != nil {
			t.Fatal(err)
		}
		if n == "0" {
			t.Fatalf("kill %d: CLIENT KILL TYPE pubsub found no connection", k)
		}
	}
	<-done
	testkit.EventuallyWithin(t, outageWait, "every publication", func() bool { return len(r.Get(ch)) >= total })
	brokertest.CheckSequence(t, "delivered", r.Get(ch), brokertest.Span(1, total))
}

// The network between a node and Redis fails — every connection reset, and
// no new one possible for a while — as publications go on from another
// node. Once the network is back the node delivers everything, exactly
// once, in order, and reports itself healthy again.
func TestNetworkCut(t *testing.T) {
	srv := testenv.Redis(t)
	proxy := testenv.NewProxy(t, srv.Addr())
	pub := newBroker(t, srv, redis.Config{})
	sub := newBroker(t, srv, redis.Config{Addrs: []string{proxy.Addr()}})
	r := brokertest.Start(t, sub)
	const ch, total = "net:c", 2000
	must(t, sub.Subscribe(context.Background(), ch))

	count, done := publishing(t, pub, ch, total)
	testkit.EventuallyWithin(t, outageWait, "a quarter published", func() bool { return count.Load() >= total/4 })
	proxy.CutAll()
	testkit.EventuallyWithin(t, outageWait, "the node to reconnect", sub.Healthy)

	testkit.EventuallyWithin(t, outageWait, "half published", func() bool { return count.Load() >= total/2 })
	proxy.SetBlocked(true)
	proxy.CutAll()
	testkit.EventuallyWithin(t, outageWait, "the node to notice", func() bool { return !sub.Healthy() })
	testkit.EventuallyWithin(t, outageWait, "reconnection attempts", func() bool { return proxy.Refused() >= 2 })
	testkit.EventuallyWithin(t, outageWait, "three quarters published", func() bool { return count.Load() >= 3*total/4 })
	proxy.SetBlocked(false)
	up(t, sub)

	<-done
	testkit.EventuallyWithin(t, outageWait, "every publication", func() bool { return len(r.Get(ch)) >= total })
	brokertest.CheckSequence(t, "delivered", r.Get(ch), brokertest.Span(1, total))
}

// Publications older than the channel's history TTL leave history one by
// one, as in the memory broker, not only when the whole history expires.
func TestHistoryTTLPerPublication(t *testing.T) {
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{})
	const ch, ttl = "age:c", 2 * time.Second
	r := brokertest.Request(ch, `1`)
	r.HistoryTTL = ttl
	first := publish(t, b, r)
	// Wait for half the TTL to pass, by Redis's clock, which stamps the
	// publications.
	t0 := history(t, b, ch, all).Publications[0].Time
	testkit.Eventually(t, "half the TTL to pass", func() bool {
		probe := history(t, b, ch, all)
		return len(probe.Publications) > 0 && time.Now().UnixMilli()-t0 >= ttl.Milliseconds()/2
	})
	r.Data = []byte(`2`)
	publish(t, b, r)

	var page stream.HistoryPage
	testkit.Eventually(t, "the first publication to age out", func() bool {
		page = history(t, b, ch, all)
		return page.Earliest == 2
	})
	if len(page.Publications) != 1 || page.Publications[0].Offset != 2 || page.Latest.Epoch != first.Epoch {
		t.Fatalf("after the first aged out: Earliest %d, offsets %v, Latest %+v; want only offset 2 in epoch %q",
			page.Earliest, brokertest.Offsets(page.Publications), page.Latest, first.Epoch)
	}
}
