package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/client"
)

// TestClusterGracefulShutdownSpreadsReconnects: SIGTERM to node B, whose
// WebSocket and SSE clients are told to reconnect one after the other over
// the drain period (3s here), not all at once. Each of them moves to A or C
// through the balancer and resumes, and while the publications go on every
// client ends with all of them, once, in order. B exits cleanly.
//
// The bounds are a distribution check, generous on purpose: an even spread
// puts a quarter of the disconnects in each quarter of the drain, and the
// test only asks for a tenth in each; everything at once would put them all
// in the first.
func TestClusterGracefulShutdownSpreadsReconnects(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	c := startCluster(t, binary, clusterBrokers[0]) // the drain is the node's, whatever the broker
	chans := loadChannels("drain", 10)
	pub := newPublisher()
	start := pub.seed(t, c.A(), chans)
	// WebSocket and SSE hold a connection, and so a session, all the
	// time: they are what a drain moves. A poll holds one only while it
	// waits.
	f := startFleet(t, c.lb.URL(), 120, []client.Transport{client.WebSocket, client.SSE}, chans, start)
	onB := c.lb.Active()[1]
	if onB < 20 {
		t.Fatalf("only %d clients on node B: connections per node %v", onB, c.lb.Active())
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		// Publications all through the drain, to A and C.
		pub.run(ctx, []*node{c.A(), c.C()}, chans, 200, 25, nil)
	}()

	began := time.Now()
	c.B().terminate()
	c.B().waitExit(clusterDrain + 15*time.Second)
	<-published
	if len(pub.failures) > 0 {
		t.Fatalf("%d publications to A and C failed while B drained; first: %s", len(pub.failures), pub.failures[0])
	}
	f.waitCaughtUp(t, pub, eventWait)
	f.check(t, pub)

	// When each of B's clients lost its connection, and when it had
	// another.
	_, moved := f.reconnects(began)
	var down, up []time.Duration
	for _, r := range moved {
		lost := false
		for _, s := range r.statesSince(began) {
			if !lost && s.s.Status == client.Disconnected {
				lost = true
				down = append(down, s.at.Sub(began))
			} else if lost && s.s.Status == client.Connected {
				up = append(up, s.at.Sub(began))
				break
			}
		}
	}
	if len(moved) > onB || len(moved) < onB/2 {
		t.Errorf("%d clients lost their connection; node B had %d", len(moved), onB)
	}
	if len(up) != len(down) {
		t.Errorf("%d clients lost their connection, %d got another", len(down), len(up))
	}
	checkSpread(t, "disconnect", down, clusterDrain)
	checkSpread(t, "reconnect", up, clusterDrain)
	t.Logf("%d clients on B; %s; %s; %s", onB, describeSpread("disconnects", down, clusterDrain),
		describeSpread("reconnects", up, clusterDrain), pub.stats())
}

// checkSpread checks that times (since the SIGTERM) fall within the drain,
// with some slack, and spread over it: at least a tenth in each quarter.
func checkSpread(t *testing.T, what string, times []time.Duration, drain time.Duration) {
	t.Helper()
	if len(times) == 0 {
		t.Errorf("no %s at all", what)
		return
	}
	sorted := append([]time.Duration(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if last := sorted[len(sorted)-1]; last > drain+2*time.Second {
		t.Errorf("the last %s came %v after SIGTERM, long after the %v drain", what, last, drain)
	}
	for _, n := range quarters(sorted, drain) {
		if n*10 < len(sorted) {
			t.Errorf("%ss are not spread over the drain: %s", what, describeSpread(what+"s", sorted, drain))
			break
		}
	}
}

// quarters counts the times in each quarter of the drain; times after it
// count in the last.
func quarters(times []time.Duration, drain time.Duration) [4]int {
	var q [4]int
	for _, d := range times {
		i := min(int(d*4/drain), 3)
		q[max(i, 0)]++
	}
	return q
}

func describeSpread(what string, times []time.Duration, drain time.Duration) string {
	if len(times) == 0 {
		return "no " + what
	}
	lo, hi := times[0], times[0]
	for _, d := range times {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf("%d %s from %v to %v after SIGTERM, per quarter of the drain %v",
		len(times), what, lo.Round(time.Millisecond), hi.Round(time.Millisecond), quarters(times, drain))
}
