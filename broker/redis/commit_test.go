package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// withReplica starts a primary and a replica of it, and returns them once
// the replica is in sync: the broker then waits for the replica before it
// commits each publication.
func withReplica(t testing.TB) (primary, replica *testenv.RedisServer) {
	t.Helper()
	primary = testenv.Redis(t)
	replica = testenv.Redis(t, testenv.RedisArgs("--replicaof", "127.0.0.1", primary.Addr()[strings.LastIndexByte(primary.Addr(), ':')+1:]))
	testkit.EventuallyWithin(t, 30*time.Second, "the replica to sync", func() bool {
		info, err := primary.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "state=online")
	})
	return primary, replica
}

// With a replica online, every publication is stored, waited for and
// committed in three steps, and the whole suite holds as it does on one
// server.
func TestBrokerWithReplica(t *testing.T) {
	primary, _ := withReplica(t)
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return newBroker(t, primary, redis.Config{})
	})
}

func TestNodesWithReplica(t *testing.T) {
	primary, _ := withReplica(t)
	brokertest.RunNodes(t, func(t *testing.T) hub.Broker {
		return newBroker(t, primary, redis.Config{Prefix: "nodes"})
	})
}

// A publication refused because its replica did not confirm it stays
// unseen; its publisher's retry under the same key finds it, waits for the
// replica again and commits it: delivered once, live, at its first offset.
func TestRetryCommitsRefusedPublication(t *testing.T) {
	primary, replica := withReplica(t)
	b := newBroker(t, primary, redis.Config{ReplicaTimeout: 200 * time.Millisecond})
	sub := newBroker(t, primary, redis.Config{})
	r := brokertest.Start(t, sub)
	const ch = "retry:c"
	must(t, sub.Subscribe(context.Background(), ch))

	req := brokertest.Request(ch, `"x"`)
	req.Key = "x"
	replica.Pause()
	_, err := b.Publish(context.Background(), req)
	replica.Resume()
	if !errors.Is(err, stream.ErrUnavailable) {
		t.Fatalf("Publish while the replica is paused: %v, want stream.ErrUnavailable", err)
	}
	if page := history(t, b, ch, all); len(page.Publications) != 0 {
		t.Errorf("history holds %d publications, want the refused one unseen", len(page.Publications))
	}

	res := publish(t, b, req)
	if !res.Duplicate || res.Offset != 1 {
		t.Errorf("retry: %+v, want a duplicate of offset 1", res)
	}
	testkit.Eventually(t, "the retried publication", func() bool { return len(r.Get(ch)) == 1 })
	brokertest.CheckSequence(t, "history", history(t, b, ch, all).Publications, []uint64{1})
	// Committed once: a second retry changes nothing anyone sees.
	publish(t, b, req)
	publish(t, b, brokertest.Request(ch, `"y"`))
	testkit.Eventually(t, "the next publication", func() bool { return len(r.Get(ch)) == 2 })
	brokertest.CheckSequence(t, "delivered", r.Get(ch), []uint64{1, 2})
}
