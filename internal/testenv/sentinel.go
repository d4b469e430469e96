package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
}

// NewRedisSentinel starts a primary, a replica and three Sentinels, and
// returns once the replica is in sync and every Sentinel knows the primary,
// its replica and the other two Sentinels.
func NewRedisSentinel(t TB) *RedisSentinel {
	t.Helper()
	d := &RedisSentinel{t: t}
	primary := Redis(t, RedisAppendOnly())
	replica := Redis(t, RedisAppendOnly(), RedisArgs("--replicaof", "127.0.0.1", strconv.Itoa(primary.port)))
	d.servers = []*RedisServer{primary, replica}
	testkit.EventuallyWithin(t, redisWait, "the replica to sync with the primary", func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	for range 3 {
		d.sentinels = append(d.sentinels, startRedis(t, "redis-sentinel", func(dir string, _ int) ([]string, error) {
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
				"sentinel down-after-milliseconds %[1]s %[3]d\n"+
				"sentinel failover-timeout %[1]s %[4]d\n"+
				"sentinel parallel-syncs %[1]s 1\n",
				SentinelMaster, primary.port, sentinelDownAfter, sentinelFailoverTimeout)
			// A Sentinel rewrites its configuration file as it learns.
			return []string{conf, "--sentinel"}, os.WriteFile(conf, []byte(body), 0o600)
		}))
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
		if s.Addr() == addr {
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
		if d.primaryAddr() != next.Addr() {
			return false
		}
		info, err := next.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "role:master")
	})
	return old
}
