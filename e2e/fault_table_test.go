package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// The fault table runs one body — the deployment soak: three nodes behind
// the round-robin balancer, clients over every transport, a backend
// publishing with idempotency keys through every node — once per fault and
// deployment, and holds each row to the outcome it states. Every row logs
// one line starting "fault-table:" with the counts seen, which
// docs/reliability.md reports.

// The table's load: small enough that the whole table runs in a few
// minutes on a shared two-core machine.
const (
	faultClients = 20
	faultTotal   = 150
	faultRate    = 30 // publications per second: five seconds of load
	faultStall   = 10 * time.Second
	faultCut     = 5 * time.Second
)

// faultRow is one fault on one deployment, and what it must come to.
type faultRow struct {
	fault      string
	deployment string
	// start starts the deployment and returns the soak's deployment with
	// its fault; it runs inside the row's subtest.
	start func(t *testing.T) deployment
	// gaps says the fault loses publications no client can be given, so
	// every subscriber must be told of a gap; otherwise none may be.
	gaps bool
}

// expected is the row's promise, as the log and docs/reliability.md put it.
func (r faultRow) expected() string {
	if r.gaps {
		return "0 lost without a gap, 0 duplicated, 0 reordered; a gap reported to every subscriber"
	}
	return "0 lost, 0 duplicated, 0 reordered; gaps: none"
}

// singleBroker is a single Redis or NATS server behind a proxy, so a row
// can cut or freeze the network between the nodes and it.
type singleBroker struct {
	url   string
	proxy *testenv.Proxy
	// stop holds the server still; resume lets it go on.
	stop, resume func()
	// kill ends the server as a crash does; restart starts it again on
	// what it had stored.
	kill, restart func()
	// dir holds what the server stores.
	dir string
}

func singleRedis(t *testing.T) singleBroker {
	rs := testenv.Redis(t, testenv.RedisAppendOnly())
	p := testenv.NewProxy(t, rs.Addr())
	return singleBroker{
		url: "redis://" + p.Addr() + "/0", proxy: p,
		stop: rs.Pause, resume: rs.Resume,
		kill: rs.Kill, restart: rs.Restart, dir: rs.Dir(),
	}
}

// singleNATS is an embedded NATS server. It cannot be sent SIGSTOP, so
// its stop freezes every connection through the proxy and refuses new
// ones: the nodes see a server that answers nothing.
func singleNATS(t *testing.T) singleBroker {
	ns := testenv.NATS(t)
	p := testenv.NewProxy(t, ns.Addr())
	var thaw func()
	return singleBroker{
		url: "nats://" + p.Addr(), proxy: p,
		stop: func() {
			p.SetBlocked(true)
			thaw = p.Freeze()
		},
		resume: func() {
			p.SetBlocked(false)
			thaw()
		},
		kill: ns.Shutdown, restart: ns.Restart, dir: ns.Dir(),
	}
}

// singleRows are the faults of a single broker server.
func singleRows(name string, start func(t *testing.T) singleBroker) []faultRow {
	return []faultRow{
		{fault: "broker stopped 10 s", deployment: name, start: func(t *testing.T) deployment {
			b := start(t)
			var c *cluster
			return deployment{name: name, url: b.url, setup: func(cl *cluster) { c = cl },
				fail: func(t *testing.T) {
					began := time.Now()
					b.stop()
					waitReady(t, http.StatusServiceUnavailable, c.nodes...)
					// The fault's length, not a wait for an event:
					// the broker stays stopped for faultStall.
					<-time.After(time.Until(began.Add(faultStall)))
					b.resume()
				}}
		}},
		{fault: "broker killed, restarted with its data", deployment: name, start: func(t *testing.T) deployment {
			b := start(t)
			var c *cluster
			return deployment{name: name, url: b.url, setup: func(cl *cluster) { c = cl },
				fail: func(t *testing.T) {
					b.kill()
					waitReady(t, http.StatusServiceUnavailable, c.nodes...)
					b.restart()
				}}
		}},
		{fault: "broker restarted empty", deployment: name, gaps: true, start: func(t *testing.T) deployment {
			b := start(t)
			var c *cluster
			return deployment{name: name, url: b.url, emptied: true, setup: func(cl *cluster) { c = cl },
				fail: func(t *testing.T) {
					b.kill()
					waitReady(t, http.StatusServiceUnavailable, c.nodes...)
					emptyDir(t, b.dir)
					b.restart()
				}}
		}},
		{fault: "network cut node-broker", deployment: name, start: func(t *testing.T) deployment {
			b := start(t)
			var c *cluster
			return deployment{name: name, url: b.url, setup: func(cl *cluster) { c = cl },
				fail: func(t *testing.T) {
					began := time.Now()
					b.proxy.SetBlocked(true)
					b.proxy.CutAll()
					waitReady(t, http.StatusServiceUnavailable, c.nodes...)
					// The cut's length, not a wait for an event.
					<-time.After(time.Until(began.Add(faultCut)))
					b.proxy.SetBlocked(false)
				}}
		}},
		nodeKilledRow(name, func(t *testing.T) string { return start(t).url }),
	}
}

// nodeKilledRow kills node B with SIGKILL: its clients move through the
// balancer to A or C, and its publishes in flight are retried there.
func nodeKilledRow(name string, url func(t *testing.T) string) faultRow {
	return faultRow{fault: "node killed", deployment: name, start: func(t *testing.T) deployment {
		var c *cluster
		return deployment{name: name, url: url(t), setup: func(cl *cluster) { c = cl },
			fail: func(t *testing.T) { c.B().kill() }}
	}}
}

// clusterRows are the failovers of the clustered deployments, as the
// deployment tests run them.
func clusterRows() []faultRow {
	return []faultRow{
		{fault: "primary failover", deployment: "redis-cluster", start: func(t *testing.T) deployment {
			rc := testenv.NewRedisCluster(t)
			var killed *testenv.RedisServer
			return deployment{name: "redis-cluster", url: rc.URL(),
				fail: func(t *testing.T) { killed = rc.FailPrimary() },
				heal: func(t *testing.T) { killed.Restart() }}
		}},
		{fault: "primary failover", deployment: "redis-sentinel", start: func(t *testing.T) deployment {
			rs := testenv.NewRedisSentinel(t)
			var killed *testenv.RedisServer
			return deployment{name: "redis-sentinel", url: rs.URL(),
				fail: func(t *testing.T) { killed = rs.FailPrimary() },
				heal: func(t *testing.T) { killed.Restart() }}
		}},
		{fault: "one server of three stopped", deployment: "nats-cluster", start: func(t *testing.T) deployment {
			nc := testenv.NewNATSCluster(t)
			stopped := -1
			return deployment{name: "nats-cluster", url: nc.URL() + "?replicas=3",
				fail: func(t *testing.T) {
					stopped = max(nc.MetaLeader(), 0)
					nc.Stop(stopped)
				},
				heal: func(t *testing.T) { nc.Start(stopped) }}
		}},
	}
}

// faultTable is every row: each fault of a single Redis and a single NATS,
// and the failover of each clustered deployment.
func faultTable() []faultRow {
	rows := append(singleRows("redis", singleRedis), singleRows("nats", singleNATS)...)
	return append(rows, clusterRows()...)
}

// TestFaultTable runs every row of the fault table in turn.
func TestFaultTable(t *testing.T) {
	for _, r := range faultTable() {
		t.Run(r.deployment+"/"+r.fault, func(t *testing.T) { runFaultRow(t, r) })
	}
}

func runFaultRow(t *testing.T, r faultRow) {
	checkDeployLeaks(t)
	d := r.start(t)
	d.clients, d.total, d.rate = faultClients, faultTotal, faultRate
	c := runDeploySoak(t, d)
	t.Logf("fault-table: fault=%q deployment=%s expected=%q acked=%d lost=%d duplicated=%d reordered=%d gaps=%d told=%d/%d wrong=%d notready=%v reconnected=%d retried=%d",
		r.fault, r.deployment, r.expected(), c.acked, c.lost, c.duplicated, c.reordered, c.gaps, c.told, c.subs, c.wrong,
		c.notReady.Round(100*time.Millisecond), c.moved, c.retried)
	if c.lost > 0 || c.duplicated > 0 || c.reordered > 0 || c.wrong > 0 {
		t.Errorf("want %s; got %s", r.expected(), c)
	}
	switch {
	case r.gaps && c.told != c.subs:
		t.Errorf("a gap reported to %d of %d subscribers, want every one: %s", c.told, c.subs, c)
	case !r.gaps && c.gaps > 0:
		t.Errorf("%d gaps reported, want none: %s", c.gaps, c)
	}
}

// emptyDir removes everything a stopped broker stored in dir, so it
// starts again with nothing.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
