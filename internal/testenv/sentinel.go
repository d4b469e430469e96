package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// SentinelMaster is the name under which a RedisSentinel's Sentinels
// monitor its primary: the master_set of its URL.
const SentinelMaster = "switchboard"

// sentinelDownAfter is how long a primary may be silent before a Sentinel
// thinks it down, in milliseconds; sentinelFailoverTimeout bounds one
// failover attempt. Short, so a failover test is quick.
const (
	sentinelDownAfter       = 1000
	sentinelFailoverTimeout = 5000
)

// RedisSentinel is a Redis deployment watched by Sentinel, on 127.0.0.1,
// for one test: a primary, a replica of it, and three Sentinels that
// monitor the primary with a quorum of two and promote the replica when it
// fails. Every server keeps an append-only file fsynced at every write. A
// test points its clients at URL, which names the Sentinels, so the
// clients follow a failover; FailPrimary causes one.
//
// The Sentinels are redis-server in Sentinel mode (what Debian's
// redis-sentinel package runs), so nothing more needs installing.
//
// Its methods are meant for the test's goroutine: on failure they stop the
// test with Fatalf. Every process is killed when the test ends.
type RedisSentinel struct {
	t         TB
	servers   []*RedisServer // the primary as started, then its replica
	sentinels []*RedisServer
	// proxies, with Proxied, stand in front of servers, one for each;
	// the Sentinels watch the servers through them.
	proxies []*Proxy
	// killed are the servers Kill killed, the primary first, for Restart.
	killed []*RedisServer
}

// NewRedisSentinel starts a primary, a replica and three Sentinels, and
// returns once the replica is in sync and every Sentinel knows the primary,
// its replica and the other two Sentinels.
//
// With Proxied, each server has a proxy in front of it and the Sentinels
// know the servers by their proxies' addresses (the replica announces its
// proxy), so a client that asks them for the primary is sent through its
// proxy. The servers and the Sentinels reach the servers from PeerAddr,
// which the proxies spare: a cut leaves replication and the Sentinels'
// watch alone, and the Sentinels fail nothing over.
func NewRedisSentinel(t TB, opts ...DeploymentOption) *RedisSentinel {
	t.Helper()
	o := deploymentOpts(opts)
	d := &RedisSentinel{t: t}
	var args []string
	if o.proxied {
		args = peerArgs
	}
	// Each server keeps a configuration file, as a production one does:
	// where the Sentinels make it a replica, or a primary, they rewrite
	// it, so a server that restarts comes back in the role it last had.
	primary := startRedis(t, "redis-server", serverConf, RedisAppendOnly(), RedisArgs(args...))
	replica := startRedis(t, "redis-server", serverConf, RedisAppendOnly(), RedisArgs(args...))
	d.servers = []*RedisServer{primary, replica}
	if o.proxied {
		for _, s := range d.servers {
			p := NewProxy(t, s.Addr(), ProxySpare(PeerAddr))
			d.proxies = append(d.proxies, p)
			_, port, _ := net.SplitHostPort(p.Addr())
			s.configure("replica-announce-port", port)
		}
	}
	host, port, _ := net.SplitHostPort(d.addr(primary))
	for _, cmd := range [][]string{{"REPLICAOF", host, port}, {"CONFIG", "REWRITE"}} {
		if _, err := replica.Do(cmd...); err != nil {
			t.Fatalf("testenv: redis sentinel: %s: %v", cmd[0], err)
			return nil
		}
	}
	testkit.EventuallyWithin(t, redisWait, "the replica to sync with the primary", func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	for range 3 {
		d.sentinels = append(d.sentinels, startRedis(t, "redis-sentinel", func(dir string, _ int) ([]string, error) {
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
				"sentinel down-after-milliseconds %[1]s %[4]d\n"+
				"sentinel failover-timeout %[1]s %[5]d\n"+
				"sentinel parallel-syncs %[1]s 1\n",
				SentinelMaster, host, port, sentinelDownAfter, sentinelFailoverTimeout)
			if o.proxied {
				// A Sentinel tells the others where it is by the
				// address it reaches the primary from, PeerAddr, where
				// it does not listen.
				body += "sentinel announce-ip 127.0.0.1\n"
			}
			// A Sentinel rewrites its configuration file as it learns.
			return []string{conf, "--sentinel"}, os.WriteFile(conf, []byte(body), 0o600)
		}, RedisArgs(args...)))
	}
	for _, s := range d.sentinels {
		testkit.EventuallyWithin(t, clusterWait, "Sentinel "+s.Addr()+" to know the replica and the other Sentinels", func() bool {
			info, err := s.Do("INFO", "sentinel")
			return err == nil && strings.Contains(info, "status=ok") &&
				strings.Contains(info, "slaves=1") && strings.Contains(info, "sentinels=3")
		})
	}
	return d
}

// serverConf writes a server's configuration file, empty but for what
// CONFIG REWRITE puts there, and returns it as the argument that goes
// first.
func serverConf(dir string, _ int) ([]string, error) {
	conf := filepath.Join(dir, "redis.conf")
	return []string{conf}, os.WriteFile(conf, nil, 0o600)
}

// Proxies returns the proxy in front of each server, in the order of
// Servers; nil unless the deployment was started Proxied.
func (d *RedisSentinel) Proxies() []*Proxy { return append([]*Proxy(nil), d.proxies...) }

// addr is the address the Sentinels know s by: its proxy's, or its own.
func (d *RedisSentinel) addr(s *RedisServer) string {
	for i, m := range d.servers {
		if m == s && d.proxies != nil {
			return d.proxies[i].Addr()
		}
	}
	return s.Addr()
}

// URL is the deployment as the Redis broker reads it: the three Sentinels
// and the name of the primary they watch.
func (d *RedisSentinel) URL() string {
	return fmt.Sprintf("redis://%s?addr=%s&addr=%s&master_set=%s",
		d.sentinels[0].Addr(), d.sentinels[1].Addr(), d.sentinels[2].Addr(), SentinelMaster)
}

// Sentinels returns the three Sentinels.
func (d *RedisSentinel) Sentinels() []*RedisServer {
	return append([]*RedisServer(nil), d.sentinels...)
}

// Servers returns the primary as started and its replica, in that order,
// whichever of them the Sentinels name as the primary now.
func (d *RedisSentinel) Servers() []*RedisServer {
	return append([]*RedisServer(nil), d.servers...)
}

// Primary returns the server the Sentinels name as the primary now.
func (d *RedisSentinel) Primary() *RedisServer {
	d.t.Helper()
	addr := d.primaryAddr()
	for _, s := range d.servers {
		if d.addr(s) == addr {
			return s
		}
	}
	d.t.Fatalf("testenv: redis sentinel: the Sentinels name %q, none of %v", addr, d.servers)
	return nil
}

// primaryAddr asks the Sentinels where the primary is; "" when none
// answers.
func (d *RedisSentinel) primaryAddr() string {
	for _, s := range d.sentinels {
		info, err := s.Do("INFO", "sentinel")
		if err != nil {
			continue
		}
		for l := range strings.Lines(info) {
			if !strings.Contains(l, "name="+SentinelMaster+",") {
				continue
			}
			for f := range strings.SplitSeq(strings.TrimSpace(l), ",") {
				if v, ok := strings.CutPrefix(f, "address="); ok {
					return v
				}
			}
		}
	}
	return ""
}

// FailPrimary kills (SIGKILL) the primary, waits until the Sentinels have
// promoted the replica and it accepts writes, and returns the server it
// killed.
func (d *RedisSentinel) FailPrimary() *RedisServer {
	d.t.Helper()
	old := d.Primary()
	old.Kill()
	var next *RedisServer
	for _, s := range d.servers {
		if s != old {
			next = s
		}
	}
	testkit.EventuallyWithin(d.t, clusterWait, "the Sentinels to promote "+next.Addr(), func() bool {
		if d.primaryAddr() != d.addr(next) {
			return false
		}
		info, err := next.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "role:master")
	})
	return old
}

// Pause stops the primary and the replica with SIGSTOP; the Sentinels go
// on watching, and find both servers down: with no replica that answers,
// they have nobody to promote.
func (d *RedisSentinel) Pause() {
	d.t.Helper()
	PauseAll(d.servers)
}

// Resume lets the servers go on and returns once the deployment is
// settled (see settle).
func (d *RedisSentinel) Resume() {
	d.t.Helper()
	ResumeAll(d.servers)
	d.settle()
}

// Kill kills the primary and the replica with SIGKILL; the Sentinels stay.
// It returns once every Sentinel sees the primary down, and remembers
// which it was, for Restart.
func (d *RedisSentinel) Kill() {
	d.t.Helper()
	primary := d.Primary()
	d.killed = []*RedisServer{primary}
	for _, s := range d.servers {
		if s != primary {
			d.killed = append(d.killed, s)
		}
	}
	KillAll(d.killed)
	// A server back before the Sentinels noticed it gone would be seen
	// down by them only then, while the other is back too: see Restart.
	testkit.EventuallyWithin(d.t, clusterWait, "every Sentinel to see the primary down", func() bool {
		for _, s := range d.sentinels {
			info, err := s.Do("INFO", "sentinel")
			if err != nil || strings.Contains(info, "status=ok,address="+d.addr(primary)+",") {
				return false
			}
		}
		return true
	})
}

// Restart starts both servers again on their append-only files and
// returns once the deployment is settled. The primary comes first, and the
// replica only once every Sentinel has seen the primary back (Kill has
// waited until they saw it down): a Sentinel that found the replica back
// while it still thought the primary down would fail over to the replica,
// and what the primary had acknowledged alone since its restart, with no
// replica connected, would be lost (see docs/reliability.md).
func (d *RedisSentinel) Restart() {
	d.t.Helper()
	primary := d.killed[0]
	primary.Restart()
	testkit.EventuallyWithin(d.t, clusterWait, "every Sentinel to see "+primary.Addr()+" back", func() bool {
		for _, s := range d.sentinels {
			info, err := s.Do("INFO", "sentinel")
			if err != nil || !strings.Contains(info, "status=ok,address="+d.addr(primary)+",") {
				return false
			}
		}
		return true
	})
	for _, s := range d.killed[1:] {
		s.Restart()
	}
	d.settle()
}

// RestartEmpty starts both servers again with nothing stored but their
// configuration files, the primary first, as after the loss of both
// disks' data, and returns once the deployment
// is settled. Both must have been killed.
func (d *RedisSentinel) RestartEmpty() {
	d.t.Helper()
	for _, s := range d.servers {
		s.Empty()
	}
	d.Restart()
}

// WaitHealthy returns once the deployment is settled (see settle): after
// a failed server is back, it replicates the primary.
func (d *RedisSentinel) WaitHealthy() {
	d.t.Helper()
	d.settle()
}

// settle waits until the Sentinels name a primary that takes writes, the
// other server replicates it with its first sync done, and every Sentinel
// sees the primary up.
func (d *RedisSentinel) settle() {
	d.t.Helper()
	testkit.EventuallyWithin(d.t, clusterWait, "the Sentinel deployment to settle", func() bool {
		addr := d.primaryAddr()
		var primary, replica *RedisServer
		for _, s := range d.servers {
			if d.addr(s) == addr {
				primary = s
			} else {
				replica = s
			}
		}
		if primary == nil || replica == nil {
			return false
		}
		if info, err := primary.Do("INFO", "replication"); err != nil || !strings.Contains(info, "role:master") {
			return false
		}
		info, err := replica.Do("INFO", "replication")
		_, port, _ := net.SplitHostPort(addr)
		if err != nil || !strings.Contains(info, "master_port:"+port+"\r\n") ||
			!strings.Contains(info, "master_link_status:up") || !strings.Contains(info, "master_sync_in_progress:0") {
			return false
		}
		for _, s := range d.sentinels {
			info, err := s.Do("INFO", "sentinel")
			if err != nil || !strings.Contains(info, "status=ok") || !strings.Contains(info, "address="+addr+",") {
				return false
			}
		}
		return true
	})
}
