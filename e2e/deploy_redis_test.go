package e2e_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// TestDeployRedisCluster: the soak on a Redis Cluster of three primaries
// with a replica each, the nodes given every server as a seed. A third of
// the way through, a primary is killed (SIGKILL) and its replica takes
// over; at two thirds the killed server comes back, as a replica.
func TestDeployRedisCluster(t *testing.T) {
	checkDeployLeaks(t)
	rc := testenv.NewRedisCluster(t)
	var killed *testenv.RedisServer
	runDeploySoak(t, deployment{
		name: "redis-cluster",
		url:  rc.URL(),
		fail: func(t *testing.T) { killed = rc.FailPrimary() },
		heal: func(t *testing.T) { killed.Restart() },
	})
}

// TestDeployRedisSentinel: the soak on a primary and a replica watched by
// three Sentinels, the nodes following the primary through the Sentinels. A
// third of the way through, the primary is killed (SIGKILL) and the
// Sentinels promote the replica; at two thirds the killed server comes
// back, and the Sentinels make it a replica.
func TestDeployRedisSentinel(t *testing.T) {
	checkDeployLeaks(t)
	rs := testenv.NewRedisSentinel(t)
	var killed *testenv.RedisServer
	runDeploySoak(t, deployment{
		name: "redis-sentinel",
		url:  rs.URL(),
		fail: func(t *testing.T) { killed = rs.FailPrimary() },
		heal: func(t *testing.T) { killed.Restart() },
	})
}
