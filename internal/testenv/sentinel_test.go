package testenv_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
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

// A Proxied deployment has the Sentinels name the primary by its proxy,
// and a cut of every proxy, longer than the Sentinels' down-after, cuts
// the clients off without the Sentinels noticing: their links to the
// servers stay up, nothing is failed over, replication goes on.
func TestRedisSentinelProxied(t *testing.T) {
	t.Parallel()
	d := testenv.NewRedisSentinel(t, testenv.Proxied())
	proxies := d.Proxies()
	if len(proxies) != 2 {
		t.Fatalf("%d proxies, want 2", len(proxies))
	}
	p := d.Primary() // found by its proxy's address
	if p != d.Servers()[0] {
		t.Fatalf("the Sentinels name %s, want the primary as started", p.Addr())
	}
	for _, px := range proxies {
		px.SetBlocked(true)
		px.CutAll()
	}
	cut := time.Now()
	for _, px := range proxies {
		if err := attemptClient(px.Addr()); err == nil {
			t.Errorf("a client got through proxy %s during the cut", px.Addr())
		}
	}
	// The Sentinels think a server down after a second without an
	// answer: wait until each has kept its link to both servers, busy,
	// for three times that since the cut.
	for _, s := range d.Servers() {
		testkit.EventuallyWithin(t, time.Minute, "the Sentinels' links to "+s.Addr()+" to outlive the cut", func() bool {
			return sentinelLinksSince(t, s, cut, 3*time.Second)
		})
	}
	for _, s := range d.Sentinels() {
		if info := mustDo(t, s, "INFO", "sentinel"); !strings.Contains(info, "status=ok") {
			t.Errorf("Sentinel %s during the cut: %s", s.Addr(), info)
		}
	}
	mustDo(t, p, "SET", "k", "v")
	if got := mustDo(t, p, "WAIT", "1", "10000"); got != "1" {
		t.Errorf("WAIT 1 during the cut: %s replicas acknowledged", got)
	}
	if got := d.Primary(); got != p {
		t.Errorf("the primary changed during the cut to %s", got.Addr())
	}
	for _, px := range proxies {
		if px.Refused() != 1 {
			t.Errorf("proxy %s refused %d connections, want only the test's one", px.Addr(), px.Refused())
		}
		px.SetBlocked(false)
	}
	// The Sentinels, which know each other, fail the primary over.
	if killed := d.FailPrimary(); killed != p {
		t.Errorf("FailPrimary killed %s, the primary was %s", killed.Addr(), p.Addr())
	}
	if got := mustDo(t, d.Primary(), "GET", "k"); got != "v" {
		t.Errorf("the promoted replica has k=%q, want v", got)
	}
}

// sentinelLinksSince reports whether, now at least long after since, each
// of the three Sentinels holds a command link to s opened before since and
// used in the last second.
func sentinelLinksSince(t *testing.T, s *testenv.RedisServer, since time.Time, long time.Duration) bool {
	t.Helper()
	if time.Since(since) < long {
		return false
	}
	out, err := s.Do("CLIENT", "LIST")
	if err != nil {
		return false
	}
	n := 0
	for l := range strings.Lines(out) {
		f := map[string]string{}
		for kv := range strings.FieldsSeq(l) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if !strings.HasPrefix(f["name"], "sentinel-") || !strings.HasSuffix(f["name"], "-cmd") {
			continue
		}
		age, err1 := strconv.Atoi(f["age"])
		idle, err2 := strconv.Atoi(f["idle"])
		if err1 == nil && err2 == nil && time.Duration(age)*time.Second >= time.Since(since) && idle <= 1 {
			n++
		}
	}
	return n == 3
}

// A server keeps the role the Sentinels gave it across a restart: after a
// failover, the deployment killed whole and restarted comes back with the
// promoted server as the primary and what it acknowledged.
func TestRedisSentinelRestartKeepsRoles(t *testing.T) {
	t.Parallel()
	d := testenv.NewRedisSentinel(t)
	killed := d.FailPrimary()
	killed.Restart()
	d.WaitHealthy()
	p := d.Primary()
	if p == killed {
		t.Fatalf("the Sentinels name the killed primary %s again", p.Addr())
	}
	mustDo(t, p, "SET", "k", "v")
	if got := mustDo(t, p, "WAIT", "1", "5000"); got != "1" {
		t.Fatalf("WAIT 1: %s replicas acknowledged", got)
	}
	d.Kill()
	d.Restart()
	if got := d.Primary(); got != p {
		t.Errorf("after the restart the Sentinels name %s, want %s, the primary before it", got.Addr(), p.Addr())
	}
	if got := mustDo(t, d.Primary(), "GET", "k"); got != "v" {
		t.Errorf("after the restart the primary has k=%q, want v", got)
	}
}
