package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// failoverWait bounds a Sentinel failover and the broker following it.
const failoverWait = 60 * time.Second

// Redis replicates asynchronously, so a primary can acknowledge a write
// that its replica never gets. A publication acknowledged that way and
// then lost in a failover would leave its offset free on the promoted
// replica: the channel's next publication would take the same position in
// the same epoch, and every subscriber that had the lost one would drop
// the new one as a repeat. The broker acknowledges a publication only once
// a replica has it, so whatever it acknowledged survives the failover, and
// the publisher's retry under its idempotency key stores what was refused.
func TestFailoverKeepsAcknowledgedPublications(t *testing.T) {
	t.Parallel()
	d := testenv.NewRedisSentinel(t)
	servers := d.Servers()
	primary, replica := servers[0], servers[1]
	b := brokertest.Connect(t, func(ctx context.Context) (*redis.Broker, error) {
		return redis.New(ctx, redis.Config{URL: d.URL() + "&replica_timeout=500ms", Logger: brokertest.Logger(t)})
	})
	const ch = "failover:c"
	type ack struct {
		pos  stream.Position
		data string
	}
	var acked []ack // what the broker acknowledged
	try := func(key, data string) (stream.PublishResult, error) {
		req := brokertest.Request(ch, data)
		req.Key = key
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := b.Publish(ctx, req)
		if err == nil {
			for _, a := range acked {
				if a.pos == res.Position && a.data != data {
					t.Errorf("Publish %s acknowledged at %v, where %s was acknowledged before", data, res.Position, a.data)
				}
			}
			acked = append(acked, ack{res.Position, data})
		}
		return res, err
	}
	if _, err := try("a", `"a"`); err != nil {
		t.Fatalf("Publish with both servers up: %v", err)
	}

	// The replica stops reading, and a large write fills what the kernel
	// buffers for it, so the next publication stays in the primary's
	// output buffer: killing the primary now loses it.
	replica.Pause()
	if _, err := primary.Do("SET", "failover:filler", strings.Repeat("x", 32<<20)); err != nil {
		t.Fatalf("filler: %v", err)
	}
	if _, err := try("b", `"b"`); err != nil && !errors.Is(err, stream.ErrUnavailable) {
		t.Errorf("Publish while the replica lags: %v, want stream.ErrUnavailable", err)
	}
	primary.Kill()
	replica.Resume()
	testkit.EventuallyWithin(t, failoverWait, "the Sentinels to promote the replica", func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "role:master")
	})

	// After the failover: another publication, then the publisher of the
	// refused one retries with its key.
	for _, p := range []struct{ key, data string }{{"c", `"c"`}, {"b", `"b"`}} {
		testkit.EventuallyNil(t, failoverWait, "Publish "+p.data+" on the promoted replica", func() error {
			_, err := try(p.key, p.data)
			return err
		})
	}

	page, err := b.History(context.Background(), ch, all)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	stored := map[stream.Position]string{}
	for _, p := range page.Publications {
		stored[stream.Position{Epoch: p.Epoch, Offset: p.Offset}] = string(p.Data)
	}
	for _, a := range acked {
		if stored[a.pos] != a.data {
			t.Errorf("acknowledged %s at %v; after the failover that position holds %q", a.data, a.pos, stored[a.pos])
		}
	}
	if t.Failed() {
		t.Logf("acknowledged %v, stored %v", acked, stored)
	}
}

// Asked for a replica that a single server does not have, the broker
// refuses every publish as unavailable once the wait is over; the
// publication is on the server, unseen, and retrying it with its key does
// not store it twice. The next publication committed shows it.
func TestMinReplicasWithoutReplica(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	b := newBroker(t, srv, redis.Config{URL: srv.URL() + "?min_replicas=1&replica_timeout=50ms"})
	const ch = "noreplica:c"
	req := brokertest.Request(ch, `1`)
	req.Key = "k"
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := b.Publish(ctx, req)
		cancel()
		if !errors.Is(err, stream.ErrUnavailable) {
			t.Fatalf("Publish with no replica, min_replicas=1: %v, want stream.ErrUnavailable", err)
		}
	}
	if page := history(t, b, ch, all); len(page.Publications) != 0 || page.Latest.Offset != 0 {
		t.Errorf("history holds %d publications up to offset %d, want the refused one unseen",
			len(page.Publications), page.Latest.Offset)
	}
	// The default waits for a replica only when the server has one.
	auto := newBroker(t, srv, redis.Config{})
	if res := publish(t, auto, brokertest.Request(ch, `2`)); res.Position.Offset != 2 {
		t.Errorf("Publish with the default: %v, want offset 2", res.Position)
	}
	page := history(t, b, ch, all)
	brokertest.CheckSequence(t, "history once the next publication is committed", page.Publications, []uint64{1, 2})
}

func TestReplicaSettingsInURL(t *testing.T) {
	srv := testenv.Redis(t)
	for _, q := range []string{"min_replicas=x", "min_replicas=-1", "replica_timeout=0s", "replica_timeout=soon"} {
		if b, err := redis.New(context.Background(), redis.Config{URL: srv.URL() + "?" + q}); err == nil {
			b.Close()
			t.Errorf("New accepted %s", q)
		}
	}
	for _, q := range []string{"min_replicas=auto", "min_replicas=none&replica_timeout=2s", "min_replicas=0"} {
		b := newBroker(t, srv, redis.Config{URL: srv.URL() + "?" + q})
		publish(t, b, brokertest.Request("settings:c", `1`))
	}
}

// A publication that no replica confirmed is refused, and nobody may see
// it: were it delivered live or read from history and then lost in a
// failover, the promoted replica would give its offset to the channel's
// next publication in the same epoch, and every subscriber that had seen
// the lost one would drop the new one as a repeat — a silent loss. So a
// refused publication stays invisible, and after the failover the next one
// reaches the subscriber of another node.
func TestRefusedPublicationStaysInvisible(t *testing.T) {
	t.Parallel()
	d := testenv.NewRedisSentinel(t)
	servers := d.Servers()
	primary, replica := servers[0], servers[1]
	connect := func(query string) *redis.Broker {
		return brokertest.Connect(t, func(ctx context.Context) (*redis.Broker, error) {
			return redis.New(ctx, redis.Config{URL: d.URL() + query, Logger: brokertest.Logger(t)})
		})
	}
	pub := connect("&replica_timeout=500ms")
	sub := connect("")
	// A node that waits for no replica: its publications are visible at
	// once, and travel on the same pub/sub stream as any other.
	loose := connect("&min_replicas=none")
	const ch, fence = "invisible:c", "invisible:fence"
	r := brokertest.Start(t, sub)
	for _, c := range []string{ch, fence} {
		must(t, sub.Subscribe(context.Background(), c))
	}
	publish(t, pub, brokertest.Request(ch, `"a"`))
	testkit.Eventually(t, "the subscriber to receive a", func() bool { return len(r.Get(ch)) == 1 })

	// The replica stops reading and a large write fills what the kernel
	// buffers for it: what is written next stays on the primary alone.
	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	if _, err := primary.Do("SET", "invisible:filler", strings.Repeat("x", 32<<20)); err != nil {
		t.Fatalf("filler: %v", err)
	}
	req := brokertest.Request(ch, `"x"`)
	req.Key = "x"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := pub.Publish(ctx, req)
	cancel()
	if !errors.Is(err, stream.ErrUnavailable) {
		t.Fatalf("Publish while the replica is paused: %v, want stream.ErrUnavailable", err)
	}
	// Pub/sub messages reach a node in the order the primary sent them:
	// once the fence arrives, x would have arrived before it.
	publish(t, loose, brokertest.Request(fence, `"fence"`))
	testkit.Eventually(t, "the subscriber to receive the fence", func() bool { return len(r.Get(fence)) == 1 })
	if got := r.Get(ch); len(got) != 1 {
		t.Errorf("the subscriber received %d publications of %s, want a alone: the refused x was delivered", len(got), ch)
	}
	if page := history(t, pub, ch, all); len(page.Publications) != 1 || page.Latest.Offset != 1 {
		t.Errorf("history holds %d publications up to offset %d, want a alone at 1: the refused x was readable",
			len(page.Publications), page.Latest.Offset)
	}

	primary.Kill()
	replica.Resume()
	resumed = true
	testkit.EventuallyWithin(t, failoverWait, "the Sentinels to promote the replica", func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "role:master")
	})
	testkit.EventuallyNil(t, failoverWait, "Publish y on the promoted replica", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := pub.Publish(ctx, brokertest.Request(ch, `"y"`))
		return err
	})
	testkit.EventuallyWithin(t, failoverWait, "the subscriber to receive y", func() bool {
		got := r.Get(ch)
		return len(got) > 0 && string(got[len(got)-1].Data) == `"y"`
	})
	for _, p := range r.Get(ch) {
		if string(p.Data) == `"x"` {
			t.Errorf("the subscriber received the refused x at %d", p.Offset)
		}
	}
}
