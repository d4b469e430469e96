package e2e_test

import (
	"regexp"
	"strings"

	"github.com/switchboardhq/switchboard/internal/doctest"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

// services starts the broker a "redis" or "nats" directive names, and puts
// its address in place of each address the doc shows (as=), in every block
// that follows: a doc shows redis://redis.internal:6379/0, the test runs it
// against a redis-server of its own. Without redis-server the doc's test
// skips, and fails under CI=true, as testenv's do.
func (r *docRun) services(s doctest.Step) {
	r.t.Helper()
	shown := strings.Split(s.Attrs["as"], ",")
	if s.Attrs["as"] == "" {
		r.fatalf(s, "%s needs as=HOST:PORT, the address the doc shows", s.Directive)
	}
	var actual []string
	switch s.Directive {
	case "redis":
		for range shown {
			actual = append(actual, testenv.Redis(r.t).Addr())
		}
	case "nats":
		switch len(shown) {
		case 1:
			actual = []string{testenv.NATS(r.t).Addr()}
		case testenv.NATSClusterSize:
			c := testenv.NewNATSCluster(r.t)
			for i := range shown {
				actual = append(actual, c.Addr(i))
			}
		default:
			r.fatalf(s, "nats runs one server or a cluster of %d, not %d", testenv.NATSClusterSize, len(shown))
		}
	}
	for i, addr := range shown {
		r.hosts = append(r.hosts, strings.TrimSpace(addr), actual[i])
	}
	r.ran++
}

// docPortRE finds the ports a doc gives its nodes: 8000 is the doc's first
// node, 8001 to 8009 are more nodes on the same machine.
var docPortRE = regexp.MustCompile(`:800\d\b`)

// local puts the test's ports and the brokers' addresses in place of the
// doc's, in a command or in what a doc shows.
func (r *docRun) local(s string) string {
	if len(r.hosts) > 0 {
		s = strings.NewReplacer(r.hosts...).Replace(s)
	}
	return docPortRE.ReplaceAllStringFunc(s, func(p string) string {
		if p == ":8000" {
			return ":" + r.port
		}
		if r.ports[p] == "" {
			r.ports[p] = ":" + freePort(r.t)
		}
		return r.ports[p]
	})
}
