package brokertest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// RunNodes runs the checks of a broker whose nodes share a backend (Redis,
// NATS): newNode returns a broker on the backend that every broker it
// returns in one subtest shares, as the nodes of one cluster do. Two nodes
// race for one channel's offsets and idempotency keys; each delivers and
// reads back what the other published, with the same positions.
func RunNodes(t *testing.T, newNode func(t *testing.T) hub.Broker) {
	t.Helper()
	for _, c := range nodeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, startNodes(t, newNode, 2))
		})
	}
}

var nodeCases = []struct {
	name string
	run  func(*testing.T, []*env)
}{
	{"Gapless", testNodesGapless},
	{"IdempotencyKey", testNodesIdempotencyKey},
}

// testNodesGapless: publishers on two nodes race for one channel's offsets.
// Every offset goes to exactly one publication, none is skipped, history
// read on one node holds what publishers on both sent, and both nodes
// deliver everything in order.
func testNodesGapless(t *testing.T, nodes []*env) {
	ch := nodes[0].channel("c")
	for _, n := range nodes {
		n.subscribe(t, ch)
	}
	checkGapless(t, ch, nodes, 4, 50)
}

// testNodesIdempotencyKey: publishers on two nodes send one key at once.
// One publication is stored; every publisher is told its position.
func testNodesIdempotencyKey(t *testing.T, nodes []*env) {
	for round := range 5 {
		ch := nodes[0].channel(fmt.Sprint(round))
		var (
			mu      sync.Mutex
			results []stream.PublishResult
			wg      sync.WaitGroup
		)
		for i := range 8 {
			node := nodes[i%len(nodes)]
			wg.Go(func() {
				res, err := node.b.Publish(t.Context(), keyed(ch, fmt.Sprint(i), "same"))
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		fresh := 0
		for _, res := range results {
			if res.Position != results[0].Position {
				t.Fatalf("round %d: positions %+v and %+v for one key", round, results[0].Position, res.Position)
			}
			if !res.Duplicate {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("round %d: %d publishes were not duplicates, want 1", round, fresh)
		}
		for i, n := range nodes {
			page := n.history(t, ch, all)
			checkPage(t, fmt.Sprintf("round %d, history on node %d", round, i), page, results[0].Position, 1, []uint64{1})
		}
	}
}
