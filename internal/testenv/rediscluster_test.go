package testenv_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testenv"
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
