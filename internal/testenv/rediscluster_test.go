package testenv_test

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// A cluster forms with three primaries serving every slot, a key written
// through the primary of its slot is read there, and a killed primary is
// replaced by its replica with the key still there.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t)
	if n := len(c.Nodes()); n != testenv.RedisClusterNodes {
		t.Fatalf("%d servers, want %d", n, testenv.RedisClusterNodes)
	}
	primaries := c.Primaries()
	if len(primaries) != 3 {
		t.Fatalf("%d primaries, want 3: %s", len(primaries), c)
	}
	url := c.URL()
	for _, n := range c.Nodes() {
		if !strings.Contains(url, n.Addr()) {
			t.Errorf("URL %s does not name %s", url, n.Addr())
		}
		if info := mustDo(t, n, "CLUSTER", "INFO"); !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("%s: %s", n.Addr(), info)
		}
	}

	// Write a key on every primary's slots: "{k}" hashes where it hashes;
	// the primary that serves it answers, the others redirect.
	written := 0
	for i := range 30 {
		key := "{k" + string(rune('a'+i%26)) + "}x"
		for _, p := range c.Primaries() {
			if _, err := p.Do("SET", key, "v"); err == nil {
				written++
				break
			}
		}
	}
	if written != 30 {
		t.Fatalf("only %d of 30 keys found a primary that took them", written)
	}

	// Replication is asynchronous: WAIT has each write reach the replica
	// before its primary goes, or the failover may lose it.
	for _, p := range primaries {
		if got := mustDo(t, p, "WAIT", "1", "5000"); got != "1" {
			t.Fatalf("WAIT 1 on %s: %s replicas acknowledged", p.Addr(), got)
		}
	}
	killed := c.FailPrimary()
	if killed.Running() {
		t.Fatal("FailPrimary left the primary running")
	}
	after := c.Primaries()
	if len(after) != 3 {
		t.Fatalf("%d primaries after the failover, want 3: %s", len(after), c)
	}
	for _, p := range after {
		if p == killed {
			t.Fatalf("the killed server %s is still a primary: %s", killed.Addr(), c)
		}
	}
	for i := range 30 {
		key := "{k" + string(rune('a'+i%26)) + "}x"
		found := false
		for _, p := range after {
			if v, err := p.Do("GET", key); err == nil && v == "v" {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s is gone after the failover", key)
		}
	}
}

// A Proxied cluster announces its proxies, so a client is sent to them;
// cutting and blocking every proxy cuts the clients off and leaves the
// cluster whole: no server is failed and no primary changes.
func TestRedisClusterProxied(t *testing.T) {
	t.Parallel()
	c := testenv.NewRedisCluster(t, testenv.Proxied())
	proxies := c.Proxies()
	if len(proxies) != testenv.RedisClusterNodes {
		t.Fatalf("%d proxies, want %d", len(proxies), testenv.RedisClusterNodes)
	}
	// The roles are read by the addresses the cluster announces: the
	// proxies'.
	before := c.Primaries()
	if len(before) != 3 {
		t.Fatalf("%d primaries known by their proxies' addresses, want 3: %s", len(before), c)
	}
	for _, p := range proxies {
		p.SetBlocked(true)
		p.CutAll()
	}
	// Longer than the node timeout: a cut that reached the cluster bus
	// or replication would fail a server over by now. Wait for the
	// cluster's own view of it: every server's ping to every other
	// answered since the cut.
	since := time.Now()
	for _, n := range c.Nodes() {
		testkit.EventuallyWithin(t, time.Minute, "pongs on "+n.Addr()+" after the cut", func() bool {
			return lastPongsAfter(t, n, since.Add(3*time.Second))
		})
	}
	for _, p := range proxies {
		if err := attemptClient(p.Addr()); err == nil {
			t.Errorf("a client got through proxy %s during the cut", p.Addr())
		}
	}
	for _, p := range before {
		// Replication goes on: a write reaches the replica.
		// A key of p's slots: the others are MOVED elsewhere.
		for i := 0; ; i++ {
			if _, err := p.Do("SET", "{k"+strconv.Itoa(i)+"}", "v"); err == nil {
				break
			} else if i == 1000 {
				t.Fatalf("no key of %s's slots: %v", p.Addr(), err)
			}
		}
		if got, err := p.Do("WAIT", "1", "10000"); err != nil || got != "1" {
			t.Errorf("WAIT on %s during the cut: %q, %v; want 1 replica", p.Addr(), got, err)
		}
	}
	for _, n := range c.Nodes() {
		if info := mustDo(t, n, "CLUSTER", "INFO"); !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("%s during the cut: %s", n.Addr(), info)
		}
		if info := mustDo(t, n, "INFO", "replication"); strings.Contains(info, "master_link_status:down") {
			t.Errorf("%s lost its primary during the cut: %s", n.Addr(), info)
		}
	}
	if after := c.Primaries(); !slices.Equal(before, after) {
		t.Errorf("the primaries changed during the cut: %s", c)
	}
	for _, p := range proxies {
		// The one refused is ours: none from the cluster itself.
		if p.Refused() != 1 {
			t.Errorf("proxy %s refused %d connections, want only the test's one", p.Addr(), p.Refused())
		}
		p.SetBlocked(false)
	}
}

// lastPongsAfter reports whether n has heard from every other server of
// its cluster at or after at: CLUSTER NODES's pong_recv, in Unix
// milliseconds.
func lastPongsAfter(t *testing.T, n *testenv.RedisServer, at time.Time) bool {
	t.Helper()
	out, err := n.Do("CLUSTER", "NODES")
	if err != nil {
		return false
	}
	for l := range strings.Lines(out) {
		f := strings.Fields(l)
		if len(f) < 6 || strings.Contains(f[2], "myself") {
			continue
		}
		ms, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil || time.UnixMilli(ms).Before(at) {
			return false
		}
	}
	return true
}

// attemptClient connects to addr from 127.0.0.1 and sends PING: nil when
// it gets an answer.
func attemptClient(addr string) error {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}
