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

// regressWait bounds a node noticing that its Redis came back, repairing,
// and delivering what followed.
const regressWait = 30 * time.Second

// With min_replicas=auto a primary without a replica online commits a
// publication alone. If a replica that lacks it then takes over, the
// channel's history goes backwards in the same epoch, and its next
// publication reuses an offset the subscribers saw: they would drop it as
// a repeat. The node that delivered the lost offsets sees history end
// before them and moves the channel to a new epoch, so its subscriber is
// told of the change and receives the next publication.
func TestHistoryWentBackwards(t *testing.T) {
	t.Parallel()
	primary, replica := testenv.Redis(t), testenv.Redis(t)
	follow := func(s, of *testenv.RedisServer) {
		t.Helper()
		host, port, _ := strings.Cut(of.Addr(), ":")
		if _, err := s.Do("REPLICAOF", host, port); err != nil {
			t.Fatalf("REPLICAOF: %v", err)
		}
		testkit.EventuallyWithin(t, regressWait, "the replica to have the primary's data", func() bool {
			info, err := s.Do("INFO", "replication")
			return err == nil && strings.Contains(info, "master_link_status:up") &&
				strings.Contains(info, "master_sync_in_progress:0")
		})
	}
	follow(replica, primary)
	// The nodes reach the primary through a proxy, which stands for the
	// address a failover moves to the replica.
	proxy := testenv.NewProxy(t, primary.Addr())
	cfg := redis.Config{URL: "redis://" + proxy.Addr() + "/0"}
	pub, sub := newBroker(t, primary, cfg), newBroker(t, primary, cfg)
	const ch = "regress:c"
	r := brokertest.Start(t, sub)
	must(t, sub.Subscribe(context.Background(), ch))
	// With the replica online, the default waits for it: it has a.
	publish(t, pub, brokertest.Request(ch, `"a"`))

	// The replica goes its own way, and the primary commits b and c alone.
	if _, err := replica.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatalf("REPLICAOF NO ONE: %v", err)
	}
	testkit.EventuallyWithin(t, regressWait, "the primary to see no replica", func() bool {
		info, err := primary.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "connected_slaves:0")
	})
	publish(t, pub, brokertest.Request(ch, `"b"`))
	publish(t, pub, brokertest.Request(ch, `"c"`))
	testkit.Eventually(t, "the subscriber to receive a, b and c", func() bool { return len(r.Get(ch)) == 3 })
	first := r.Get(ch)[0].Epoch

	// The failover: the nodes lose their connections, and what answers at
	// the primary's address next holds the replica's data, without b and c.
	proxy.SetBlocked(true)
	proxy.CutAll()
	primary.Restart()
	follow(primary, replica)
	if _, err := primary.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatalf("REPLICAOF NO ONE: %v", err)
	}
	proxy.SetBlocked(false)

	testkit.EventuallyNil(t, regressWait, "Publish y after the failover", func() error {
		req := brokertest.Request(ch, `"y"`)
		req.Key = "y"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := pub.Publish(ctx, req)
		return err
	})
	testkit.EventuallyWithin(t, regressWait, "the subscriber to receive y", func() bool {
		got := r.Get(ch)
		return string(got[len(got)-1].Data) == `"y"`
	})
	got := r.Get(ch)
	y := got[len(got)-1]
	if n := len(got); n != 4 {
		t.Errorf("the subscriber received %d publications, want a, b, c and y once", n)
	}
	if y.Epoch == first {
		t.Errorf("y delivered at %v, in the epoch whose offsets 2 and 3 the subscriber had for b and c", y.Position())
	}
	brokertest.CheckSequence(t, "the first epoch", got[:3], []uint64{1, 2, 3})
	if t.Failed() {
		for _, p := range got {
			t.Logf("delivered %v %s", p.Position(), p.Data)
		}
	}
}
