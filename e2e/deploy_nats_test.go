package e2e_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// TestDeployNATSCluster: the soak on a NATS cluster of three servers with
// JetStream, the stream and the presence bucket with three replicas. A
// third of the way through, the server that leads JetStream's meta group is
// shut down; the other two keep a quorum. At two thirds it starts again on
// its store and catches up.
func TestDeployNATSCluster(t *testing.T) {
	checkDeployLeaks(t)
	nc := testenv.NewNATSCluster(t)
	stopped := -1
	runDeploySoak(t, deployment{
		name: "nats-cluster",
		url:  nc.URL() + "?replicas=3",
		fail: func(t *testing.T) {
			stopped = max(nc.MetaLeader(), 0)
			nc.Stop(stopped)
		},
		heal: func(t *testing.T) { nc.Start(stopped) },
	})
}
