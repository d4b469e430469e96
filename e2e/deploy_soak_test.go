package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The deployment tests run the cluster soak on the clustered brokers users
// outgrow one server with — Redis Cluster, Redis Sentinel, a NATS
// JetStream cluster — each started on loopback by internal/testenv, and fail
// a member of the deployment under load as production does: three nodes
// behind the round-robin balancer, clients over every transport, a backend
// publishing with idempotency keys through any node.

// deploySoak sizes the soak: small enough that a deployment runs in well
// under a minute on a shared two-core machine.
const (
	deployClients  = 40
	deployChannels = 10
	deployTotal    = 300
	deployRate     = 30 // publications per second: ten seconds of load
)

// deployment is a clustered broker and the fault the soak puts it through.
type deployment struct {
	name string
	url  string
	// fail breaks a member of the deployment and returns once the
	// deployment serves again without it (a replica promoted, a new
	// leader elected). It runs a third of the way through the load.
	fail func(t *testing.T)
	// heal brings the failed member back, two thirds of the way through;
	// nil leaves it down.
	heal func(t *testing.T)
}

// deployCounts is what the soak saw, for the test's log and the docs.
type deployCounts struct {
	acked      int           // publications acknowledged
	retried    int           // publish attempts that failed and were retried
	lost       int           // acknowledged, never received by a subscriber of its channel, no gap reported
	duplicated int           // received twice by one subscriber
	reordered  int           // received after a later offset
	gaps       int           // gaps reported to subscribers
	wrong      int           // acknowledgements that broke the offset rules
	notReady   time.Duration // the longest a node's /readyz answered anything but 200
	moved      int           // clients that lost their connection
}

func (c deployCounts) String() string {
	return fmt.Sprintf("acked %d (retried attempts %d), lost %d, duplicated %d, reordered %d, gaps reported %d, "+
		"wrong acknowledgements %d, longest not-ready %v, clients that reconnected %d",
		c.acked, c.retried, c.lost, c.duplicated, c.reordered, c.gaps, c.wrong, c.notReady.Round(100*time.Millisecond), c.moved)
}

// runDeploySoak starts three nodes on d's broker, a fleet on every
// transport through the balancer and a publisher through every node; fails
// d a third of the way through the publications and heals it at two
// thirds; then checks that every acknowledged publication is in history and
// reached every subscriber of its channel once, in order, and that every
// node is ready again.
func runDeploySoak(t *testing.T, d deployment) deployCounts {
	t.Helper()
	c := startCluster(t, loadBinary(t), brokerKind{name: d.name, start: func(*testing.T) clusterBroker {
		return clusterBroker{url: d.url}
	}})
	chans := loadChannels("deploy", deployChannels)
	pub := newPublisher()
	start := pub.seed(t, c.A(), chans)
	f := startFleet(t, c.lb.URL(), deployClients, fleetTransports, chans, start)
	ready := watchReadiness(c.nodes)
	defer ready.stop()

	third, twoThirds := make(chan struct{}), make(chan struct{})
	var once1, once2 sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		pub.run(ctx, c.nodes, chans, deployTotal, deployRate, func(n int) {
			if n >= deployTotal/3 {
				once1.Do(func() { close(third) })
			}
			if n >= 2*deployTotal/3 {
				once2.Do(func() { close(twoThirds) })
			}
		})
	}()
	<-third
	failed := time.Now()
	d.fail(t)
	t.Logf("%s: the deployment served again %v after the fault", d.name, time.Since(failed).Round(100*time.Millisecond))
	if d.heal != nil {
		select {
		case <-twoThirds:
		case <-published:
		}
		d.heal(t)
	}
	<-published
	t.Log(pub.stats())
	if len(pub.failures) > 0 {
		t.Fatalf("%d publications never acknowledged, though retried for two minutes; first: %s", len(pub.failures), pub.failures[0])
	}
	// Readiness false only while the broker cannot serve: it serves again
	// once fail has returned, so every node is ready again soon after.
	waitReady(t, http.StatusOK, c.nodes...)
	pub.checkHistory(t, c.B(), start)
	f.waitCaughtUp(t, pub, time.Minute)
	counts := countDelivery(f, pub)
	f.check(t, pub)
	ready.stop()
	counts.notReady = ready.longest()
	moved, _ := f.reconnects(failed)
	for _, n := range moved {
		counts.moved += n
	}
	t.Logf("%s: %s", d.name, counts)
	return counts
}

// checkDeployLeaks checks, when the test ends, that nothing it started is
// left running. Called before the deployment starts, its check runs after
// the deployment's own cleanups have stopped it.
func checkDeployLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// countDelivery counts, over every client, what check judges: acknowledged
// publications never received, received twice, or out of order, and the
// gaps reported.
func countDelivery(f *fleet, p *publisher) deployCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c deployCounts
	for _, m := range p.acked {
		c.acked += len(m)
	}
	c.retried = p.retries
	c.wrong = len(p.wrong)
	for _, r := range f.subs {
		acked := p.acked[r.sub.Channel()]
		r.mu.Lock()
		seen := make(map[uint64]bool, len(r.got))
		var last uint64
		for _, g := range r.got {
			if seen[g.pos.Offset] {
				c.duplicated++
			} else if g.pos.Offset < last {
				c.reordered++
			}
			seen[g.pos.Offset] = true
			last = max(last, g.pos.Offset)
		}
		for off := range acked {
			if !seen[off] {
				c.lost++
			}
		}
		for _, pr := range r.problems {
			if strings.HasPrefix(pr, "gap from") || strings.Contains(pr, "recovered=false") {
				c.gaps++
			}
		}
		r.mu.Unlock()
	}
	return c
}

// readiness polls every node's /readyz and keeps, per node, the longest
// run of answers other than 200.
type readiness struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	since []time.Time // when the node's current not-ready run began; zero while ready
	worst []time.Duration
}

func watchReadiness(nodes []*node) *readiness {
	ctx, cancel := context.WithCancel(context.Background())
	r := &readiness{
		cancel: cancel, done: make(chan struct{}),
		since: make([]time.Time, len(nodes)), worst: make([]time.Duration, len(nodes)),
	}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, n := range nodes {
				ok := n.readyz() == http.StatusOK
				now := time.Now()
				r.mu.Lock()
				switch {
				case !ok && r.since[i].IsZero():
					r.since[i] = now
				case ok && !r.since[i].IsZero():
					r.worst[i] = max(r.worst[i], now.Sub(r.since[i]))
					r.since[i] = time.Time{}
				}
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

// stop ends the polling and waits for it; a second call does nothing.
func (r *readiness) stop() {
	r.cancel()
	<-r.done
}

// longest is the longest time any node was not ready, counting a run still
// going on when stop was called.
func (r *readiness) longest() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out time.Duration
	for i, d := range r.worst {
		out = max(out, d)
		if !r.since[i].IsZero() {
			out = max(out, time.Since(r.since[i]))
		}
	}
	return out
}
