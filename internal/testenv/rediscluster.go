package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// clusterWait bounds how long a Redis Cluster may take to form, and to
// settle again after a primary fails: the node timeout, the replica's vote
// and the gossip that spreads the new configuration.
const clusterWait = 60 * time.Second

// clusterNodeTimeout is the cluster-node-timeout the servers run with: how
// long a primary may be silent before its replica takes over. Short, so a
// failover test is quick; long enough that a busy machine does not fail
// over by mistake.
const clusterNodeTimeout = 2 * time.Second

// RedisCluster is a Redis Cluster on 127.0.0.1 for one test: three
// primaries that share the 16,384 hash slots and one replica for each,
// every one a RedisServer started by Redis with cluster mode on and an
// append-only file fsynced at every write. A test points its clients at
// URL and fails a primary with FailPrimary.
//
// Its methods are meant for the test's goroutine: on failure they stop the
// test with Fatalf. Every server is killed when the test ends.
type RedisCluster struct {
	t     TB
	nodes []*RedisServer // as created: the first three became the primaries
	// proxies, with Proxied, stand in front of nodes, one for each; the
	// servers announce them as their client addresses.
	proxies []*Proxy
	// lastRoles are the roles last read, for Restart to bring the
	// primaries back first once every server is down.
	lastRoles map[string]string
}

// RedisClusterNodes is how many servers a RedisCluster runs: three
// primaries and a replica for each.
const RedisClusterNodes = 6

// NewRedisCluster starts six redis-servers in cluster mode, joins them into
// a cluster with redis-cli --cluster create (three primaries, one replica
// each) and returns once every server says cluster_state:ok and every
// replica has finished its first sync. With Proxied, each server announces
// the proxy in front of it as its address (cluster-announce-port), and
// reaches the others, for replication and the cluster bus, from PeerAddr.
// Without redis-server or redis-cli the test is skipped, or fails under CI
// (see Unavailable).
func NewRedisCluster(t TB, opts ...DeploymentOption) *RedisCluster {
	t.Helper()
	o := deploymentOpts(opts)
	c := &RedisCluster{t: t}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout / time.Millisecond)),
		// A replica whose primary is gone takes over at once, however
		// long ago it last heard from it.
		"--cluster-replica-validity-factor", "0",
	}
	if o.proxied {
		args = append(args, peerArgs...)
		// A server learns the others' addresses from where their
		// connections come from, PeerAddr, unless they announce theirs.
		args = append(args, "--cluster-announce-ip", "127.0.0.1")
	}
	for range RedisClusterNodes {
		n := startRedis(t, "redis-server", clusterPort, RedisAppendOnly(), RedisArgs(args...))
		c.nodes = append(c.nodes, n)
		if o.proxied {
			p := NewProxy(t, n.Addr(), ProxySpare(PeerAddr))
			c.proxies = append(c.proxies, p)
			_, port, _ := net.SplitHostPort(p.Addr())
			// The bus port stays the server's own: gossip goes direct.
			n.configure("cluster-announce-port", port)
		}
	}
	c.create()
	return c
}

// clusterPort gives a cluster server a cluster bus port of its own, free
// when it starts, rather than its port plus 10,000, which may be taken (a
// busy machine's outgoing connections use those ports too) or past
// 65,535.
func clusterPort(string, int) ([]string, error) {
	port, err := freePort()
	return []string{"--cluster-port", strconv.Itoa(port)}, err
}

// peerArgs have a server reach the other servers of its deployment from
// PeerAddr, which their proxies spare, and accept them from there: Redis's
// protected mode lets only 127.0.0.1 in when no password is set.
var peerArgs = []string{"--bind-source-addr", PeerAddr, "--protected-mode", "no"}

// create joins the servers into a cluster with redis-cli --cluster create
// and waits until it serves every slot with every replica synced.
func (c *RedisCluster) create() {
	c.t.Helper()
	cli := redisCLI(c.t)
	// The servers' own addresses: the cluster bus port is derived from
	// the port given here.
	args := []string{"--cluster", "create"}
	for _, n := range c.nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, tail(out))
		return
	}
	c.waitOK(c.nodes, 3)
	c.waitSynced(c.nodes)
}

// Proxies returns the proxy in front of each server, in the order of
// Nodes; nil unless the cluster was started Proxied.
func (c *RedisCluster) Proxies() []*Proxy { return append([]*Proxy(nil), c.proxies...) }

// addr is the address the cluster announces for n: its proxy's, or its
// own.
func (c *RedisCluster) addr(n *RedisServer) string {
	for i, m := range c.nodes {
		if m == n && c.proxies != nil {
			return c.proxies[i].Addr()
		}
	}
	return n.Addr()
}

// WaitHealthy returns once every server runs and says cluster_state:ok
// with three primaries and three replicas, every replica synced: after a
// failed server is back, the cluster is whole again.
func (c *RedisCluster) WaitHealthy() {
	c.t.Helper()
	c.waitOK(c.nodes, 3)
	c.waitSynced(c.nodes)
}

// Pause stops every server with SIGSTOP: the whole cluster hangs, its
// connections open.
func (c *RedisCluster) Pause() {
	c.t.Helper()
	PauseAll(c.nodes)
}

// Resume lets every server go on and returns once the cluster serves
// every slot again with three primaries and three replicas. Servers that
// answered nothing for longer than the node timeout may fail over to one
// another on the way.
func (c *RedisCluster) Resume() {
	c.t.Helper()
	ResumeAll(c.nodes)
	c.waitOK(c.nodes, 3)
	c.waitSynced(c.nodes)
}

// Kill kills every server with SIGKILL, as a crash of every machine does.
func (c *RedisCluster) Kill() {
	c.t.Helper()
	c.roles()
	KillAll(c.nodes)
}

// Restart starts every server again on its append-only file and
// nodes.conf, primaries first, and returns once the cluster serves every
// slot with every replica synced.
func (c *RedisCluster) Restart() {
	c.t.Helper()
	roles := c.lastRoles
	for _, primaries := range []bool{true, false} {
		for _, n := range c.nodes {
			if (roles[c.addr(n)] == "master") == primaries && !n.Running() {
				n.Restart()
			}
		}
	}
	c.waitOK(c.nodes, 3)
	c.waitSynced(c.nodes)
}

// RestartEmpty starts every server again with nothing stored — no data,
// no nodes.conf — and creates the cluster anew, as after the loss of
// every disk. Every server must have been killed.
func (c *RedisCluster) RestartEmpty() {
	c.t.Helper()
	for _, n := range c.nodes {
		n.Empty()
	}
	for _, n := range c.nodes {
		n.Restart()
	}
	c.create()
}

// waitSynced waits until every replica among nodes has finished its first
// sync with its primary: until then it holds none of what the primary
// acknowledges, and a failover onto it would lose everything.
func (c *RedisCluster) waitSynced(nodes []*RedisServer) {
	c.t.Helper()
	for _, n := range nodes {
		testkit.EventuallyWithin(c.t, clusterWait, "the replica "+n.Addr()+" in sync", func() bool {
			info, err := n.Do("INFO", "replication")
			if err != nil {
				return false
			}
			if !strings.Contains(info, "role:slave") {
				return true
			}
			return strings.Contains(info, "master_link_status:up") &&
				strings.Contains(info, "master_sync_in_progress:0")
		})
	}
}

// redisCLI finds redis-cli, or stops the test.
func redisCLI(t TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/redis-cli", "redis-cli"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	Unavailable(t, "redis-cli is not installed; install Debian's package: apt-get install redis-tools, or run make deps")
	return ""
}

func tail(b []byte) []byte {
	if len(b) > tailBytes {
		return b[len(b)-tailBytes:]
	}
	return b
}

// URL is the cluster as the Redis broker reads it: every server as a seed
// node, redis://first?addr=second&addr=…
func (c *RedisCluster) URL() string {
	var sb strings.Builder
	sb.WriteString("redis://" + c.nodes[0].Addr())
	for i, n := range c.nodes[1:] {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		sb.WriteString("addr=" + n.Addr())
	}
	return sb.String()
}

// Nodes returns every server of the cluster, primaries and replicas alike,
// running or not.
func (c *RedisCluster) Nodes() []*RedisServer { return append([]*RedisServer(nil), c.nodes...) }

// Primaries returns the servers that are primaries now, as the first
// running server sees them.
func (c *RedisCluster) Primaries() []*RedisServer {
	c.t.Helper()
	roles := c.roles()
	var out []*RedisServer
	for _, n := range c.nodes {
		if roles[c.addr(n)] == "master" {
			out = append(out, n)
		}
	}
	return out
}

// FailPrimary kills (SIGKILL) a primary that has a running replica, waits
// until that replica has taken over and every server still running says
// cluster_state:ok, and returns the server it killed. Restart brings it back
// as a replica of the one that replaced it.
func (c *RedisCluster) FailPrimary() *RedisServer {
	c.t.Helper()
	roles := c.roles()
	var victim *RedisServer
	for _, n := range c.nodes {
		if roles[c.addr(n)] == "master" && roles["replicas of "+c.addr(n)] != "" {
			victim = n
			break
		}
	}
	if victim == nil {
		c.t.Fatalf("testenv: redis cluster: no primary with a replica: %v", roles)
		return nil
	}
	victim.Kill()
	var alive []*RedisServer
	for _, n := range c.nodes {
		if n != victim && n.Running() {
			alive = append(alive, n)
		}
	}
	testkit.EventuallyWithin(c.t, clusterWait, "a replica to take over from "+victim.Addr(), func() bool {
		return c.countPrimaries(alive) == 3
	})
	c.waitOK(alive, 2)
	return victim
}

// countPrimaries counts the primaries among nodes that serve slots, as each
// of them reports itself.
func (c *RedisCluster) countPrimaries(nodes []*RedisServer) int {
	n := 0
	for _, s := range nodes {
		info, err := s.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "role:master") {
			n++
		}
	}
	return n
}

// waitOK waits until every one of nodes says cluster_state:ok, agrees that
// all 16,384 slots are served, and sees three primaries and replicas
// replicas that are not failing.
func (c *RedisCluster) waitOK(nodes []*RedisServer, replicas int) {
	c.t.Helper()
	for _, n := range nodes {
		testkit.EventuallyWithin(c.t, clusterWait, "cluster_state:ok on "+n.Addr(), func() bool {
			info, err := n.Do("CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_slots_ok:16384") {
				return false
			}
			out, err := n.Do("CLUSTER", "NODES")
			if err != nil {
				return false
			}
			primaries, secondaries := 0, 0
			for _, role := range parseClusterNodes(out) {
				switch role {
				case "master":
					primaries++
				case "slave":
					secondaries++
				}
			}
			return primaries == 3 && secondaries == replicas
		})
	}
}

// roles reads CLUSTER NODES from a running server: address → "master" or
// "slave", and "replicas of addr" → the addresses of its running replicas.
func (c *RedisCluster) roles() map[string]string {
	c.t.Helper()
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		out, err := n.Do("CLUSTER", "NODES")
		if err != nil {
			continue
		}
		c.lastRoles = parseClusterNodes(out)
		return c.lastRoles
	}
	c.t.Fatalf("testenv: redis cluster: no server answers CLUSTER NODES")
	return nil
}

// parseClusterNodes reads CLUSTER NODES: one line per server, "id
// ip:port@cport[,hostname] flags primary-id …".
func parseClusterNodes(out string) map[string]string {
	roles := make(map[string]string)
	addrOf := make(map[string]string) // id → address
	type line struct{ addr, flags, primary string }
	var lines []line
	for l := range strings.Lines(out) {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addrOf[f[0]] = addr
		lines = append(lines, line{addr, f[2], f[3]})
	}
	for _, l := range lines {
		if strings.Contains(l.flags, "fail") {
			continue
		}
		switch {
		case strings.Contains(l.flags, "master"):
			roles[l.addr] = "master"
		case strings.Contains(l.flags, "slave"):
			roles[l.addr] = "slave"
			key := "replicas of " + addrOf[l.primary]
			roles[key] = strings.TrimSpace(roles[key] + " " + l.addr)
		}
	}
	return roles
}

// String describes the cluster's servers and roles, for a failing test's log.
func (c *RedisCluster) String() string {
	var sb strings.Builder
	for _, n := range c.nodes {
		role := "down"
		if n.Running() {
			role = "?"
			if info, err := n.Do("INFO", "replication"); err == nil {
				for l := range strings.Lines(info) {
					if v, ok := strings.CutPrefix(strings.TrimSpace(l), "role:"); ok {
						role = v
					}
				}
			}
		}
		fmt.Fprintf(&sb, "%s %s; ", n.Addr(), role)
	}
	return strings.TrimSuffix(sb.String(), "; ")
}
