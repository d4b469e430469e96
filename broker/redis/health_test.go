package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// clusterWait bounds a Redis Cluster failover and the broker noticing it.
const clusterWait = 60 * time.Second

// While a Redis Cluster cannot serve some of its slots, a third of the
// channels refuse publishes though every other node answers: the broker is
// not healthy until every slot has a primary that answers again.
func TestHealthyFollowsClusterSlots(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	b := brokertest.Connect(t, func(ctx context.Context) (*redis.Broker, error) {
		return redis.New(ctx, redis.Config{URL: c.URL(), Logger: brokertest.Logger(t)})
	})
	brokertest.Start(t, b)
	testkit.EventuallyWithin(t, clusterWait, "Healthy", b.Healthy)

	// A primary dies while its replica is stopped: its slots have no one
	// to serve them until the replica runs again and takes over.
	victim := c.Primaries()[0]
	replica := replicaOf(t, c, victim)
	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	victim.Kill()
	testkit.EventuallyWithin(t, clusterWait, "Healthy to turn false while slots have no primary", func() bool { return !b.Healthy() })
	// Not by chance: every probe fails while the slots are unserved.
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := b.Probe(ctx)
		cancel()
		if err == nil {
			t.Fatalf("probe %d answered nil while a primary is down and its replica stopped", i+1)
		}
	}

	replica.Resume()
	resumed = true
	testkit.EventuallyWithin(t, clusterWait, "Healthy once the replica has taken over", b.Healthy)
}

// replicaOf returns the server that replicates primary.
func replicaOf(t *testing.T, c *testenv.RedisCluster, primary *testenv.RedisServer) *testenv.RedisServer {
	t.Helper()
	id, err := primary.Do("CLUSTER", "MYID")
	must(t, err)
	nodes, err := primary.Do("CLUSTER", "NODES")
	must(t, err)
	for l := range strings.Lines(nodes) {
		f := strings.Fields(l)
		if len(f) < 4 || f[3] != id {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, n := range c.Nodes() {
			if n.Addr() == addr {
				return n
			}
		}
	}
	t.Fatalf("no replica of %s in\n%s", primary.Addr(), nodes)
	return nil
}
