package e2e_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/client"
)

// killLoad is the kill test's load: clients spread over every transport
// and, through the balancer, over the three nodes; publications through
// the API of A and C.
const (
	killClients  = 1000
	killChannels = 100
	killRate     = 200 // publications per second
	killSeconds  = 6
)

// TestClusterNodeKilledUnderLoad: kill -9 of node B while a thousand
// clients follow fifty channels and the API takes 200 publications a second.
// B's clients reconnect through the balancer to A or C and resume from their
// positions; every client ends with every acknowledged publication of its
// channel exactly once, in order.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	forEachBroker(t, testNodeKilledUnderLoad)
}

func testNodeKilledUnderLoad(t *testing.T, b brokerKind) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	c := startCluster(t, loadBinary(t), b)
	chans := loadChannels("kill", killChannels)
	pub := newPublisher()
	start := pub.seed(t, c.A(), chans)
	began := time.Now()
	f := startFleet(t, c.lb.URL(), killClients, fleetTransports, chans, start)
	t.Logf("%d clients connected and subscribed in %v", killClients, time.Since(began).Round(time.Millisecond))
	began = time.Now()
	atStart := c.lb.Active()
	if atStart[1] == 0 {
		t.Fatalf("no client on node B: connections per node %v", atStart)
	}

	// Kill B a third of the way through the publications.
	total := killRate * killSeconds
	third := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		pub.run(ctx, []*node{c.A(), c.C()}, chans, total, killRate, func(n int) {
			if n >= total/3 {
				once.Do(func() { close(third) })
			}
		})
	}()
	select {
	case <-third:
	case <-published:
		t.Fatal("publishing ended before a third was answered")
	}
	atKill := c.lb.Active()
	killed := time.Now()
	t.Logf("first third published in %v", killed.Sub(began).Round(time.Millisecond))
	c.B().kill()
	<-published
	took := time.Since(killed)
	t.Log(pub.stats())

	if len(pub.failures) > 0 {
		t.Fatalf("%d publications never acknowledged by A or C, though retried until the test's deadline; first: %s", len(pub.failures), pub.failures[0])
	}
	began = time.Now()
	f.waitCaughtUp(t, pub, time.Minute)
	t.Logf("caught up in %v", time.Since(began).Round(time.Millisecond))
	f.check(t, pub)

	if active := c.lb.Active(); active[1] != 0 {
		t.Errorf("%d connections still open to the killed node", active[1])
	}
	moved, _ := f.reconnects(killed)
	if len(moved) == 0 {
		t.Error("no client lost its connection when B was killed")
	}
	for _, r := range f.subs {
		if s := r.c.State(); s.Status != client.Connected {
			t.Errorf("%s client on %s ends %v", r.tr, r.sub.Channel(), s)
		}
	}
	t.Logf("%d clients, connections per node at start %v, at the kill %v, at the end %v; "+
		"%d publications acknowledged (the last two thirds in %v); clients that reconnected after the kill, by transport: %v",
		len(f.subs), atStart, atKill, c.lb.Active(), pub.ackedCount(), took.Round(time.Millisecond), moved)
}

// TestClusterBrokerRestart: the broker goes away under load and comes back
// with what it had stored — redis-server killed and restarted on its
// append-only file, as a production Redis would; NATS shut down and
// restarted on its JetStream file store. Every node's /readyz answers 503
// while the broker is away and 200 again after; publications the API
// acknowledged are all in history and all delivered, once, in order, with
// their data; the clients recover without a gap, WebSocket, SSE and gRPC
// clients without even reconnecting.
func TestClusterBrokerRestart(t *testing.T) {
	forEachBroker(t, testBrokerRestart)
}

func testBrokerRestart(t *testing.T, b brokerKind) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	c := startCluster(t, loadBinary(t), b)
	chans := loadChannels("restart", 20)
	pub := newPublisher()
	start := pub.seed(t, c.A(), chans)
	f := startFleet(t, c.lb.URL(), 200, fleetTransports, chans, start)

	const rate, seconds = 100, 10
	total := rate * seconds
	third := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		pub.run(ctx, c.nodes, chans, total, rate, func(n int) {
			if n >= total/3 {
				once.Do(func() { close(third) })
			}
		})
	}()
	<-third
	before := pub.ackedCount()
	c.broker.down()
	waitReady(t, http.StatusServiceUnavailable, c.nodes...)
	c.broker.restart()
	waitReady(t, http.StatusOK, c.nodes...)
	<-published
	t.Log(pub.stats())
	if len(pub.failures) > 0 {
		t.Fatalf("%d publications never acknowledged, though retried until the test's deadline; first: %s", len(pub.failures), pub.failures[0])
	}

	pub.checkHistory(t, c.B(), start)
	f.waitCaughtUp(t, pub, time.Minute)
	f.check(t, pub)
	if after := pub.ackedCount(); after == before {
		t.Errorf("no publication was acknowledged after Redis came back")
	}
	// The nodes repair what their streaming clients missed from the
	// broker's history; those clients have no reason to reconnect. (A poll
	// that came while the broker was away may have been refused, and
	// retried.)
	moved, _ := f.reconnects(time.Time{})
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.GRPC} {
		if moved[tr] > 0 {
			t.Errorf("%d %s clients lost their connection while the broker was away", moved[tr], tr)
		}
	}
	t.Logf("%d publications acknowledged; clients that lost a connection, by transport: %v", pub.ackedCount(), moved)
}
