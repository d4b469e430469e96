package controltest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// waitTimeout bounds each wait: generous, since an implementation under
// -race on a loaded machine may be slow; a correct one never gets near it.
const waitTimeout = 15 * time.Second

// node is one running Control and the messages its Run delivered.
type node struct {
	hub.Control
	mu   sync.Mutex
	msgs [][]byte
}

func (n *node) received() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

func (n *node) has(msg []byte) bool {
	return slices.ContainsFunc(n.received(), func(m []byte) bool { return bytes.Equal(m, msg) })
}

// start runs c until the test ends, recording what it delivers.
func start(t *testing.T, c hub.Control) *node {
	t.Helper()
	n := &node{Control: c}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(msg []byte) {
			n.mu.Lock()
			n.msgs = append(n.msgs, slices.Clone(msg))
			n.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return n
}

// flowing publishes probes from n until one reached every node, so the
// test does not race the nodes' subscriptions.
func flowing(t *testing.T, from *node, nodes ...*node) {
	t.Helper()
	var probes [][]byte
	testkit.EventuallyWithin(t, waitTimeout, "control messages to reach every node", func() bool {
		probe := fmt.Appendf(nil, `{"type":"probe","n":%d}`, len(probes))
		if err := from.Publish(t.Context(), probe); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		probes = append(probes, probe)
		return slices.ContainsFunc(probes, func(p []byte) bool {
			return !slices.ContainsFunc(nodes, func(n *node) bool { return !n.has(p) })
		})
	})
}

// Run runs the suite. newPair returns the Controls of two nodes sharing
// one backend, closed when the test ends.
func Run(t *testing.T, newPair func(t *testing.T) (hub.Control, hub.Control)) {
	t.Run("EveryNodeInOrder", func(t *testing.T) {
		ca, cb := newPair(t)
		a, b := start(t, ca), start(t, cb)
		flowing(t, a, a, b)
		flowing(t, b, a, b)

		var sent [][]byte
		for i := range 50 {
			from, name := a, "a"
			if i%2 == 1 {
				from, name = b, "b"
			}
			m := fmt.Appendf(nil, `{"type":"disconnect","user":"u%d","from":%q}`, i, name)
			if err := from.Publish(t.Context(), m); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			sent = append(sent, m)
		}
		for _, n := range []*node{a, b} {
			testkit.EventuallyWithin(t, waitTimeout, fmt.Sprintf("a node to get every one of %d messages sent", len(sent)), func() bool {
				return containsAll(n.received(), sent)
			})
			// What one node sent arrives in the order it sent it.
			for _, from := range []string{`"from":"a"`, `"from":"b"`} {
				var want, got [][]byte
				for _, m := range sent {
					if bytes.Contains(m, []byte(from)) {
						want = append(want, m)
					}
				}
				for _, m := range n.received() {
					if bytes.Contains(m, []byte(from)) {
						got = append(got, m)
					}
				}
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("messages from one node out of order or repeated:\n got %q\nwant %q", got, want)
				}
			}
		}
	})

	t.Run("PublishKeepsNoReference", func(t *testing.T) {
		ca, cb := newPair(t)
		a, b := start(t, ca), start(t, cb)
		flowing(t, a, a, b)
		m := []byte(`{"type":"x","v":1}`)
		if err := a.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		copy(m, `{"type":"y"`)
		want := []byte(`{"type":"x","v":1}`)
		testkit.EventuallyWithin(t, waitTimeout, "the message to arrive as it was published", func() bool {
			return b.has(want) && a.has(want)
		})
	})
}

func containsAll(got, want [][]byte) bool {
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, w) }) {
			return false
		}
	}
	return true
}
