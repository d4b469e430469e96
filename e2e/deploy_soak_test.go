package e2e_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/stream"
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
	// setup, when set, is given the cluster once its nodes run, before
	// the load: a fault that kills a node takes it from there.
	setup func(c *cluster)
	// emptied says the fault loses the broker's data, so every channel
	// starts a new epoch: the publisher accepts acknowledgements in it,
	// and instead of the checks that history and deliveries continue the
	// first epoch, the counts judge what was lost without a gap reported.
	emptied bool
	// prefix names the run's channels, so that runs sharing one broker
	// deployment have channels of their own; empty: "deploy".
	prefix string
	// clients, total and rate size the run; zero takes deployClients,
	// deployTotal and deployRate.
	clients, total, rate int
}

// deployCounts is what the soak saw, for the test's log and the docs.
type deployCounts struct {
	acked      int           // publications acknowledged
	retried    int           // publish attempts that failed and were retried
	lost       int           // acknowledged, never received by a subscriber of its channel, no gap reported
	duplicated int           // received twice by one subscriber
	reordered  int           // received after a later offset
	gaps       int           // gaps reported to subscribers
	told       int           // subscribers told of at least one gap
	subs       int           // subscribers
	wrong      int           // acknowledgements that broke the offset rules
	notReady   time.Duration // the longest a node's /readyz answered anything but 200
	moved      int           // clients that lost their connection
}

func (c deployCounts) String() string {
	return fmt.Sprintf("acked %d (retried attempts %d), lost %d, duplicated %d, reordered %d, gaps reported %d "+
		"(to %d of %d subscribers), wrong acknowledgements %d, longest not-ready %v, clients that reconnected %d",
		c.acked, c.retried, c.lost, c.duplicated, c.reordered, c.gaps, c.told, c.subs, c.wrong,
		c.notReady.Round(100*time.Millisecond), c.moved)
}

// runDeploySoak starts three nodes on d's broker, a fleet on every
// transport through the balancer and a publisher through every node; fails
// d a third of the way through the publications and heals it at two
// thirds; then checks that every acknowledged publication is in history and
// reached every subscriber of its channel once, in order, and that every
// node still running is ready again. With d.emptied the history and
// delivery checks are left to the caller, which judges the counts.
func runDeploySoak(t *testing.T, d deployment) deployCounts {
	t.Helper()
	c := startCluster(t, loadBinary(t), brokerKind{name: d.name, start: func(*testing.T) clusterBroker {
		return clusterBroker{url: d.url}
	}})
	if d.setup != nil {
		d.setup(c)
	}
	chans := loadChannels(cmp.Or(d.prefix, "deploy"), deployChannels)
	pub := newPublisher()
	start := pub.seed(t, c.A(), chans)
	pub.newEpochs = d.emptied
	clients, total, rate := cmp.Or(d.clients, deployClients), cmp.Or(d.total, deployTotal), cmp.Or(d.rate, deployRate)
	f := startFleet(t, c.lb.URL(), clients, fleetTransports, chans, start)
	ready := watchReadiness(c.nodes)
	defer ready.stop()

	third, twoThirds := make(chan struct{}), make(chan struct{})
	var once1, once2 sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		pub.run(ctx, c.nodes, chans, total, rate, func(n int) {
			if n >= total/3 {
				once1.Do(func() { close(third) })
			}
			if n >= 2*total/3 {
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
	live := liveNodes(c.nodes)
	waitReady(t, http.StatusOK, live...)
	if !d.emptied {
		pub.checkHistory(t, live[0], start)
	}
	f.waitCaughtUpEpoch(t, pub, time.Minute)
	counts := countDelivery(f, pub)
	if !d.emptied {
		f.check(t, pub)
	}
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

// countDelivery counts, over every client, what check judges, by
// position (epoch and offset), so that it also judges a run in which the
// broker lost its data: acknowledged publications never received and not
// covered by a gap reported to that client (lost), received twice, or out
// of order, and the gaps reported.
func countDelivery(f *fleet, p *publisher) deployCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c deployCounts
	c.retried = p.retries
	c.wrong = len(p.wrong)
	c.subs = len(f.subs)
	for ch, m := range p.acked {
		c.acked += len(m)
		for _, old := range p.earlier[ch] {
			c.acked += len(old)
		}
	}
	for _, r := range f.subs {
		ch := r.sub.Channel()
		acked := map[string]map[uint64]int{p.epoch[ch]: p.acked[ch]}
		for e, old := range p.earlier[ch] {
			acked[e] = old
		}
		r.mu.Lock()
		seen := make(map[stream.Position]bool, len(r.got))
		last := r.start
		for _, g := range r.got {
			switch {
			case seen[g.pos]:
				c.duplicated++
			case g.pos.Epoch == last.Epoch && g.pos.Offset < last.Offset:
				c.reordered++
			}
			seen[g.pos] = true
			if g.pos.Epoch != last.Epoch || g.pos.Offset > last.Offset {
				last = g.pos
			}
		}
		var gaps []reportedGap
		for _, pr := range r.problems {
			if g, ok := parseGap(pr); ok {
				gaps = append(gaps, g)
			}
		}
		r.mu.Unlock()
		c.gaps += len(gaps)
		if len(gaps) > 0 {
			c.told++
		}
		for e, m := range acked {
			for off := range m {
				pos := stream.Position{Epoch: e, Offset: off}
				if !seen[pos] && !coveredByGap(gaps, pos) {
					c.lost++
				}
			}
		}
	}
	return c
}

// reportedGap is what a client was told it missed: after from and up to to
// (a gap event), or, for a subscribe answered with recovered=false
// (recovered set false), everything of another epoch than to's and of to's
// epoch up to it.
type reportedGap struct {
	from, to  stream.Position
	recovered bool
}

// parseGap reads a gap from one of a recorder's problems.
func parseGap(problem string) (reportedGap, bool) {
	var a, b string
	if n, _ := fmt.Sscanf(problem, "gap from %s to %s", &a, &b); n == 2 {
		from, ok1 := parsePosition(a)
		to, ok2 := parsePosition(b)
		return reportedGap{from: from, to: to, recovered: true}, ok1 && ok2
	}
	if n, _ := fmt.Sscanf(problem, "subscribed with recovered=false at %s", &a); n == 1 {
		to, ok := parsePosition(a)
		return reportedGap{to: to}, ok
	}
	return reportedGap{}, false
}

// parsePosition reads "epoch/offset".
func parsePosition(s string) (stream.Position, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return stream.Position{}, false
	}
	off, err := strconv.ParseUint(s[i+1:], 10, 64)
	return stream.Position{Epoch: s[:i], Offset: off}, err == nil
}

// coveredByGap reports whether one of gaps told the client it missed pos.
func coveredByGap(gaps []reportedGap, pos stream.Position) bool {
	for _, g := range gaps {
		switch {
		case !g.recovered && (pos.Epoch != g.to.Epoch || pos.Offset <= g.to.Offset):
			return true
		case g.recovered && g.from.Epoch == g.to.Epoch:
			if pos.Epoch == g.to.Epoch && pos.Offset > g.from.Offset && pos.Offset <= g.to.Offset {
				return true
			}
		case g.recovered:
			if (pos.Epoch == g.from.Epoch && pos.Offset > g.from.Offset) || (pos.Epoch == g.to.Epoch && pos.Offset <= g.to.Offset) {
				return true
			}
		}
	}
	return false
}

// waitCaughtUpEpoch waits until every client has received its channel's
// latest acknowledged publication, by position: in a run where the broker
// lost its data, a client still in the old epoch has not caught up, however
// high its offset.
func (f *fleet) waitCaughtUpEpoch(t *testing.T, p *publisher, d time.Duration) {
	t.Helper()
	behind := func() []*recorder {
		latest := p.latest()
		p.mu.Lock()
		epoch := maps.Clone(p.epoch)
		p.mu.Unlock()
		var out []*recorder
		for _, r := range f.subs {
			ch := r.sub.Channel()
			if last := r.last(); last.Epoch != epoch[ch] || last.Offset < latest[ch] {
				out = append(out, r)
			}
		}
		return out
	}
	f.waitNoneBehind(t, d, behind)
}

// liveNodes returns the nodes whose process has not exited.
func liveNodes(nodes []*node) []*node {
	var out []*node
	for _, n := range nodes {
		select {
		case <-n.exited:
		default:
			out = append(out, n)
		}
	}
	return out
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
				select {
				case <-n.exited:
					// A killed node is not a node that is not
					// ready: its clients have moved on, and the
					// moment it stopped answering is forgotten.
					r.mu.Lock()
					r.since[i] = time.Time{}
					r.mu.Unlock()
					continue
				default:
				}
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
