package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// The cluster tests run three nodes that share nothing but a broker — a
// private redis-server, or an embedded NATS server with JetStream — behind
// a balancer (cluster_lb_test.go) that sends each new connection to the
// next live node. Clients are the Go SDK (package client), which reconnects
// and resumes by itself; publishers call the HTTP API of chosen nodes
// directly, as application backends do.

// clusterConfig gives the load channels a history long enough for every
// test's run, so a client resuming on another node always finds what it
// missed, and a drain short enough to keep the tests quick but long enough
// to see it spread.
const clusterConfig = `shutdown_drain: 3s
namespaces:
  - name: load
    history_size: 10000
    history_ttl: 10m
`

// clusterDrain is clusterConfig's shutdown_drain.
const clusterDrain = 3 * time.Second

// clusterBroker is the broker a cluster runs on, with the means to take it
// away and bring it back with what it had acknowledged.
type clusterBroker struct {
	url     string
	down    func() // Redis: SIGKILL; NATS: a shutdown of the embedded server
	restart func()
}

// brokerKind starts a broker for a test.
type brokerKind struct {
	name  string
	start func(t *testing.T) clusterBroker
}

// clusterBrokers are the brokers that carry a cluster. Both keep what they
// acknowledged across a restart: Redis with its append-only file fsynced
// at every write, as a production Redis would; NATS with JetStream's file
// store, the broker's default.
var clusterBrokers = []brokerKind{
	{"redis", func(t *testing.T) clusterBroker {
		rs := testenv.Redis(t, testenv.RedisAppendOnly())
		return clusterBroker{url: rs.URL(), down: rs.Kill, restart: rs.Restart}
	}},
	{"nats", func(t *testing.T) clusterBroker {
		ns := testenv.NATS(t)
		return clusterBroker{url: ns.URL(), down: ns.Shutdown, restart: ns.Restart}
	}},
}

// forEachBroker runs fn as one subtest per broker.
func forEachBroker(t *testing.T, fn func(t *testing.T, b brokerKind)) {
	t.Helper()
	for _, b := range clusterBrokers {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// cluster is a broker, three nodes on it, and a balancer in front.
type cluster struct {
	broker clusterBroker
	nodes  []*node // A, B, C
	lb     *balancer
}

// startCluster starts a broker of kind b, three nodes of bin on it, and the
// balancer.
func startCluster(t *testing.T, bin string, b brokerKind) *cluster {
	t.Helper()
	c := &cluster{broker: b.start(t)}
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(clusterConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.nodes = append(c.nodes, startNodeBinary(t, bin, "--config", path, "--broker", c.broker.url))
	}
	c.lb = newBalancer(t, c.nodes...)
	return c
}

// A, B and C name the nodes as the tests' descriptions do.
func (c *cluster) A() *node { return c.nodes[0] }
func (c *cluster) B() *node { return c.nodes[1] }
func (c *cluster) C() *node { return c.nodes[2] }

// hostPort is the node's listening address.
func (n *node) hostPort() string { return strings.TrimPrefix(n.URL, "http://") }

// kill ends the node with SIGKILL, as a crash would, and waits for it.
func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// terminate sends SIGTERM, starting a graceful shutdown; waitExit waits for
// its end.
func (n *node) terminate() {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatalf("SIGTERM: %v", err)
	}
}

// waitExit waits for the node to exit after terminate, and checks it exited
// cleanly within d.
func (n *node) waitExit(d time.Duration) {
	n.t.Helper()
	select {
	case <-n.exited:
		if n.err != nil {
			n.t.Errorf("node exited with %v\n%s", n.err, n.logs)
		}
	case <-time.After(d):
		n.t.Fatalf("node did not exit within %v of SIGTERM\n%s", d, n.logs)
	}
}

// readyz returns the node's /readyz status, or 0 when it does not answer.
func (n *node) readyz() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady polls every node's /readyz until each answers want.
func waitReady(t *testing.T, want int, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		waitCondition(t, 30*time.Second, func() bool { return n.readyz() == want },
			func() string { return fmt.Sprintf("%s/readyz did not turn %d\n%s", n.URL, want, n.logs) })
	}
}

// waitCondition polls cond until it holds, failing the test after d; what,
// logged when the wait fails, says how things stand then.
func waitCondition(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	held := false
	defer func() {
		if !held {
			t.Log(what())
		}
	}()
	testkit.EventuallyWithin(t, d, "the condition logged below", cond)
	held = true
}

// loadChannels names n channels of the load namespace.
func loadChannels(prefix string, n int) []string {
	chans := make([]string, n)
	for i := range chans {
		chans[i] = fmt.Sprintf("load:%s-%d", prefix, i)
	}
	return chans
}
