//go:build linux

package bench_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/bench"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestGRPCSubscribersLeaveNoSocket: once a run over gRPC ends, the node
// holds none of its subscribers' sockets, so the next step of a ladder
// starts from an empty node (the sockets lingered, and a ladder's second
// step ran into the node's connection cap).
func TestGRPCSubscribersLeaveNoSocket(t *testing.T) {
	node := startNode(t)
	before := openFiles(t, node.PID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.Load(ctx, bench.LoadConfig{Node: node, Transport: bench.GRPC, Subscribers: 40, Rate: 20, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, res, 40)
	testkit.Eventually(t, "the node closed the subscribers' sockets", func() bool {
		return openFiles(t, node.PID) <= before+5
	})
}

func openFiles(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
