package e2e_test

import (
	"fmt"
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
	faultRate    = 50 // publications per second: three seconds of load
	faultStall   = 10 * time.Second
	faultCut     = 5 * time.Second
)

// faultRow is one fault, and what it must come to.
type faultRow struct {
	fault string
	// soak builds the soak's deployment with the fault on b.
	soak func(b faultBroker) deployment
	// gaps says the fault loses publications no client can be given, so
	// every subscriber must be told of a gap; otherwise none may be.
	gaps bool
}

// faultDeployment is a broker deployment and the rows run on it.
type faultDeployment struct {
	name  string
	start func(t *testing.T) faultBroker
	// shared: one deployment serves the rows in turn, each leaving it
	// whole again, on channels of their own; otherwise each row starts
	// its own.
	shared bool
	rows   []faultRow
}

// expected is the row's promise, as the log and docs/reliability.md put it.
func (r faultRow) expected() string {
	if r.gaps {
		return "0 lost without a gap, 0 duplicated, 0 reordered; a gap reported to every subscriber"
	}
	return "0 lost, 0 duplicated, 0 reordered; gaps: none"
}

// faultBroker is a broker deployment whose every data server stands
// behind a proxy that only the nodes go through, so a row can cut or
// freeze the network between the nodes and the deployment and leave the
// deployment's own links — replication, gossip, routes, Sentinels — whole.
type faultBroker struct {
	url     string
	proxies []*testenv.Proxy
	// stop holds every data server still; resume lets them go on and
	// returns once the deployment serves again.
	stop, resume func()
	// kill ends every data server as a crash does; restart starts them
	// again on what they had stored, restartEmpty with nothing (a
	// cluster formed anew), each returning once the deployment serves.
	kill, restart, restartEmpty func()
	// failover, on a clustered deployment, names the failure of one
	// member that it rides out; fail causes it, returning once the
	// deployment serves without the member, and heal brings the member
	// back, returning once the deployment is whole again.
	failover   string
	fail, heal func()
}

// cut drops every connection between the nodes and the deployment and
// refuses new ones until restore.
func (b faultBroker) cut() {
	for _, p := range b.proxies {
		p.SetBlocked(true)
		p.CutAll()
	}
}

func (b faultBroker) restore() {
	for _, p := range b.proxies {
		p.SetBlocked(false)
	}
}

// freeze silences every connection between the nodes and the deployment
// and refuses new ones: for a server that cannot be sent SIGSTOP, the
// nodes see a deployment that answers nothing. thaw undoes it.
func (b faultBroker) freeze() (thaw func()) {
	var thaws []func()
	for _, p := range b.proxies {
		p.SetBlocked(true)
		thaws = append(thaws, p.Freeze())
	}
	return func() {
		for i, p := range b.proxies {
			p.SetBlocked(false)
			thaws[i]()
		}
	}
}

func singleRedis(t *testing.T) faultBroker {
	rs := testenv.Redis(t, testenv.RedisAppendOnly())
	p := testenv.NewProxy(t, rs.Addr())
	return faultBroker{
		url: "redis://" + p.Addr() + "/0", proxies: []*testenv.Proxy{p},
		stop: rs.Pause, resume: rs.Resume,
		kill: rs.Kill, restart: rs.Restart,
		restartEmpty: func() {
			emptyDir(t, rs.Dir())
			rs.Restart()
		},
	}
}

// singleNATS is an embedded NATS server. It cannot be sent SIGSTOP, so
// its stop freezes every connection through the proxy and refuses new
// ones.
func singleNATS(t *testing.T) faultBroker {
	ns := testenv.NATS(t)
	p := testenv.NewProxy(t, ns.Addr())
	b := faultBroker{
		url: "nats://" + p.Addr(), proxies: []*testenv.Proxy{p},
		kill: ns.Shutdown, restart: ns.Restart,
		restartEmpty: func() {
			emptyDir(t, ns.Dir())
			ns.Restart()
		},
	}
	var thaw func()
	b.stop = func() { thaw = b.freeze() }
	b.resume = func() { thaw() }
	return b
}

// redisCluster is a Redis Cluster of three primaries with a replica each,
// each server behind its proxy. Stopped, every one of the six gets
// SIGSTOP; killed, every one is killed and restarted on its append-only
// file and nodes.conf; emptied, the cluster is created anew by redis-cli.
func redisCluster(t *testing.T) faultBroker {
	rc := testenv.NewRedisCluster(t, testenv.Proxied())
	var killed *testenv.RedisServer
	return faultBroker{
		url: rc.URL(), proxies: rc.Proxies(),
		stop: rc.Pause, resume: rc.Resume,
		kill: rc.Kill, restart: rc.Restart, restartEmpty: rc.RestartEmpty,
		failover: "primary failover",
		fail:     func() { killed = rc.FailPrimary() },
		heal: func() {
			killed.Restart()
			rc.WaitHealthy()
		},
	}
}

// redisSentinel is a primary and a replica watched by three Sentinels, each
// server behind its proxy, which the Sentinels watch it through and name
// to the nodes. The faults take both data servers and leave the Sentinels
// running: they are the part that would act on a failure, and with both
// servers down they have nobody to promote.
func redisSentinel(t *testing.T) faultBroker {
	rs := testenv.NewRedisSentinel(t, testenv.Proxied())
	var killed *testenv.RedisServer
	return faultBroker{
		url: rs.URL(), proxies: rs.Proxies(),
		stop: rs.Pause, resume: rs.Resume,
		kill: rs.Kill, restart: rs.Restart, restartEmpty: rs.RestartEmpty,
		failover: "primary failover",
		fail:     func() { killed = rs.FailPrimary() },
		heal: func() {
			killed.Restart()
			rs.WaitHealthy()
		},
	}
}

// natsCluster is three embedded NATS servers with JetStream, the stream
// and the presence bucket with three replicas, each client port behind a
// proxy. Embedded servers cannot be sent SIGSTOP: stopped, every
// connection through the proxies is frozen. Killed, every server is shut
// down and started again on its store; emptied, on an empty one.
func natsCluster(t *testing.T) faultBroker {
	nc := testenv.NewNATSCluster(t, testenv.Proxied())
	stopped := -1
	b := faultBroker{
		url: nc.URL() + "?replicas=3", proxies: nc.Proxies(),
		kill: nc.StopAll, restart: nc.StartAll,
		restartEmpty: func() {
			nc.Empty()
			nc.StartAll()
		},
		failover: "one server of three stopped",
		fail: func() {
			stopped = max(nc.MetaLeader(), 0)
			nc.Stop(stopped)
		},
		heal: func() {
			nc.Start(stopped)
			nc.WaitStreams()
		},
	}
	var thaw func()
	b.stop = func() { thaw = b.freeze() }
	b.resume = func() { thaw() }
	return b
}

// brokerRows are the faults every deployment goes through, and failover,
// when not empty, names the failure of one member that a clustered one
// rides out.
func brokerRows(failover string) []faultRow {
	rows := []faultRow{
		{fault: "broker stopped 10 s", soak: func(b faultBroker) deployment {
			return faultSoak(b, func(t *testing.T, c *cluster) {
				began := time.Now()
				b.stop()
				waitReady(t, http.StatusServiceUnavailable, c.nodes...)
				// The fault's length, not a wait for an event: the
				// broker stays stopped for faultStall.
				<-time.After(time.Until(began.Add(faultStall)))
				b.resume()
			})
		}},
		{fault: "broker killed, restarted with its data", soak: func(b faultBroker) deployment {
			return faultSoak(b, func(t *testing.T, c *cluster) {
				b.kill()
				waitReady(t, http.StatusServiceUnavailable, c.nodes...)
				b.restart()
			})
		}},
		{fault: "network cut node-broker", soak: func(b faultBroker) deployment {
			return faultSoak(b, func(t *testing.T, c *cluster) {
				began := time.Now()
				b.cut()
				waitReady(t, http.StatusServiceUnavailable, c.nodes...)
				// The cut's length, not a wait for an event.
				<-time.After(time.Until(began.Add(faultCut)))
				b.restore()
			})
		}},
		// Node B is killed with SIGKILL: its clients move through the
		// balancer to A or C, and its publishes in flight are retried
		// there.
		{fault: "node killed", soak: func(b faultBroker) deployment {
			return faultSoak(b, func(_ *testing.T, c *cluster) { c.B().kill() })
		}},
	}
	if failover != "" {
		rows = append(rows, faultRow{fault: failover, soak: func(b faultBroker) deployment {
			d := faultSoak(b, func(*testing.T, *cluster) { b.fail() })
			d.heal = func(*testing.T) { b.heal() }
			return d
		}})
	}
	// Last, so that a deployment the rows share keeps its history until
	// then.
	return append(rows, faultRow{fault: "broker restarted empty", gaps: true, soak: func(b faultBroker) deployment {
		d := faultSoak(b, func(t *testing.T, c *cluster) {
			b.kill()
			waitReady(t, http.StatusServiceUnavailable, c.nodes...)
			b.restartEmpty()
		})
		d.emptied = true
		return d
	}})
}

// faultSoak is the soak's deployment on b, whose fault is handed the
// nodes.
func faultSoak(b faultBroker, fail func(t *testing.T, c *cluster)) deployment {
	var c *cluster
	return deployment{url: b.url, setup: func(cl *cluster) { c = cl },
		fail: func(t *testing.T) { fail(t, c) }}
}

// faultTable is every deployment with its rows. A single server is
// started afresh for each row; a clustered deployment, slow to form, is
// shared by its rows, each of which leaves it whole, on channels of its
// own.
func faultTable() []faultDeployment {
	return []faultDeployment{
		{name: "redis", start: singleRedis, rows: brokerRows("")},
		{name: "nats", start: singleNATS, rows: brokerRows("")},
		{name: "redis-cluster", start: redisCluster, shared: true, rows: brokerRows("primary failover")},
		{name: "redis-sentinel", start: redisSentinel, shared: true, rows: brokerRows("primary failover")},
		{name: "nats-cluster", start: natsCluster, shared: true, rows: brokerRows("one server of three stopped")},
	}
}

// TestFaultTable runs every row of the fault table in turn, as
// TestFaultTable/<deployment>/<fault>.
func TestFaultTable(t *testing.T) {
	for _, fd := range faultTable() {
		t.Run(fd.name, func(t *testing.T) {
			var b faultBroker
			if fd.shared {
				checkDeployLeaks(t)
				b = fd.start(t)
			}
			for i, r := range fd.rows {
				t.Run(r.fault, func(t *testing.T) {
					if !fd.shared {
						checkDeployLeaks(t)
						b = fd.start(t)
					}
					d := r.soak(b)
					d.name = fd.name
					d.prefix = fmt.Sprintf("fault%d", i)
					runFaultRow(t, fd.name, r, d)
				})
			}
		})
	}
}

func runFaultRow(t *testing.T, name string, r faultRow, d deployment) {
	d.clients, d.total, d.rate = faultClients, faultTotal, faultRate
	c := runDeploySoak(t, d)
	t.Logf("fault-table: fault=%q deployment=%s expected=%q acked=%d lost=%d duplicated=%d reordered=%d gaps=%d told=%d/%d wrong=%d notready=%v reconnected=%d retried=%d",
		r.fault, name, r.expected(), c.acked, c.lost, c.duplicated, c.reordered, c.gaps, c.told, c.subs, c.wrong,
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
