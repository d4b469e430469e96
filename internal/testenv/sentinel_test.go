package testenv_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// Sentinels name the primary; a key written there reaches the replica;
// killing the primary gets the replica promoted, with the key.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	d := testenv.NewRedisSentinel(t)
	url := d.URL()
	for _, s := range d.Sentinels() {
		if !strings.Contains(url, s.Addr()) {
			t.Errorf("URL %s does not name Sentinel %s", url, s.Addr())
		}
	}
	if !strings.Contains(url, "master_set="+testenv.SentinelMaster) {
		t.Errorf("URL %s names no master_set", url)
	}
	p := d.Primary()
	mustDo(t, p, "SET", "k", "v")
	// WAIT makes the write reach the replica before the primary goes.
	if got := mustDo(t, p, "WAIT", "1", "5000"); got != "1" {
		t.Fatalf("WAIT 1: %s replicas acknowledged", got)
	}
	killed := d.FailPrimary()
	if killed != p || killed.Running() {
		t.Fatalf("FailPrimary killed %s, the primary was %s", killed.Addr(), p.Addr())
	}
	next := d.Primary()
	if next == p {
		t.Fatal("the Sentinels still name the killed primary")
	}
	if got := mustDo(t, next, "GET", "k"); got != "v" {
		t.Errorf("the promoted replica has k=%q, want v", got)
	}
	mustDo(t, next, "SET", "k2", "v2") // it takes writes
}
