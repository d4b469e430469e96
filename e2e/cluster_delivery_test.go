package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

// TestClusterCrossNodeDelivery: a subscriber on node A receives, in order
// and once, what the API published on node C and on node B, over every
// transport. The nodes share nothing but the broker.
func TestClusterCrossNodeDelivery(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b brokerKind) { testCrossNodeDelivery(t, b) })
}

func testCrossNodeDelivery(t *testing.T, b brokerKind) {
	c := startCluster(t, binary, b)
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		ch := "load:cross-" + tr.String()
		p := openProbe(t, tr, c.A(), followSpec{channels: []string{ch}})
		p.expect(fromNow(ch))
		var pubs []sentPublication
		for i := range 10 {
			from := c.C()
			if i%3 == 2 {
				from = c.B()
			}
			pubs = append(pubs, publishEach(t, from, ch, fmt.Sprintf(`{"i":%d,"from":%q}`, i, from.URL))...)
		}
		p.expect(nil, pubs...)
	})
}

// TestClusterPollsAcrossNodes: a polling client whose every poll opens a new
// connection through the balancer, and so goes to the next node in turn,
// misses nothing and sees nothing twice while two other nodes publish. No
// sticky sessions: the cursor carries the positions, history is in the
// broker.
func TestClusterPollsAcrossNodes(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b brokerKind) { testPollsAcrossNodes(t, b) })
}

func testPollsAcrossNodes(t *testing.T, b brokerKind) {
	c := startCluster(t, binary, b)
	for _, tr := range []client.Transport{client.LongPoll, client.ShortPoll} {
		t.Run(string(tr), func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			ch := "load:polls-" + string(tr)
			pub := newPublisher()
			start := pub.seed(t, c.A(), []string{ch})

			// No keep-alive: every poll is a new connection, which the
			// balancer hands to the next node.
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			f := startFleetWith(t, c.lb.URL(), []client.Transport{tr}, ch, start[ch], hc)
			before := c.lb.Accepted()

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			pub.run(ctx, []*node{c.A(), c.C()}, []string{ch}, 60, 30, nil)
			if len(pub.failures) > 0 {
				t.Fatalf("publishing failed: %v", pub.failures)
			}
			f.waitCaughtUp(t, pub, eventWait)
			f.check(t, pub)

			after := c.lb.Accepted()
			for i := range after {
				if after[i] == before[i] {
					t.Errorf("no poll went to node %d (connections per node before %v, after %v)", i, before, after)
				}
			}
			t.Logf("%d publications; polls per node %v", pub.ackedCount(), connDelta(after, before))
		})
	}
}

// startFleetWith starts one client of each transport, all subscribed to ch
// from start, sending their HTTP requests through hc.
func startFleetWith(t *testing.T, base string, transports []client.Transport, ch string, start stream.Position, hc *http.Client) *fleet {
	t.Helper()
	f := startFleetOptions(t, base, len(transports), transports, []string{ch}, map[string]stream.Position{ch: start},
		func(o *client.Options) {
			o.HTTPClient = hc
			o.PollInterval = 50 * time.Millisecond
		})
	t.Cleanup(hc.CloseIdleConnections)
	return f
}

func connDelta(after, before []int) []int {
	out := make([]int, len(after))
	for i := range after {
		out[i] = after[i] - before[i]
	}
	return out
}
