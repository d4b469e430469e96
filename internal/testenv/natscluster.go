package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// NATSClusterSize is how many servers a NATSCluster runs: the smallest
// cluster in which a JetStream stream with three replicas survives the loss
// of one server.
const NATSClusterSize = 3

// NATSCluster is a NATS cluster with JetStream, embedded in the test
// process: three servers on free ports of 127.0.0.1, joined by routes, each
// with a JetStream store in a directory of its own. A test points its
// clients at URL (every server) and takes a server away with Stop and
// brings it back, on the same address and store, with Start.
//
// Its methods are meant for the test's goroutine: on failure they stop the
// test with Fatalf. URL and Addr are safe anywhere. Every server is shut
// down when the test ends.
type NATSCluster struct {
	t    TB
	opts []server.Options
	// proxies, with Proxied, stand in front of the servers' client ports,
	// one for each, and URL names them.
	proxies []*Proxy

	mu  sync.Mutex
	srv []*server.Server // nil where a server is not running
}

// NewNATSCluster starts three clustered NATS servers with JetStream and
// returns once each accepts clients and they agree on a JetStream meta
// leader. Nothing needs installing: the servers are the nats-server
// module, compiled into the test.
//
// With Proxied, a proxy stands in front of each server's client port, URL
// names the proxies, and the servers do not advertise their own client
// addresses, so a client reaches them only through the proxies; the routes
// between the servers have no proxy, so a cut leaves the cluster whole.
func NewNATSCluster(t TB, opts ...DeploymentOption) *NATSCluster {
	t.Helper()
	o := deploymentOpts(opts)
	c := &NATSCluster{t: t, srv: make([]*server.Server, NATSClusterSize)}
	t.Cleanup(c.shutdownAll)
	ports := make([]int, 2*NATSClusterSize) // client ports, then route ports
	for i := range ports {
		for ports[i] == 0 || slices.Contains(ports[:i], ports[i]) {
			p, err := freePort()
			if err != nil {
				t.Fatalf("testenv: nats cluster: %v", err)
				return nil
			}
			ports[i] = p
		}
	}
	var routes []*url.URL
	for i := range NATSClusterSize {
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[NATSClusterSize+i]))})
	}
	for i := range NATSClusterSize {
		dir, err := os.MkdirTemp("", "switchboard-nats-cluster-")
		if err != nil {
			t.Fatalf("testenv: nats cluster: %v", err)
			return nil
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		c.opts = append(c.opts, server.Options{
			ServerName: fmt.Sprintf("switchboard-test-%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   dir,
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "switchboard-test",
				Host: "127.0.0.1",
				Port: ports[NATSClusterSize+i],
				// Clients learn no address but the ones they are given.
				NoAdvertise: o.proxied,
			},
			Routes: routes,
		})
	}
	// A clustered JetStream elects its meta leader only once a majority
	// of the servers is up: start them all, then wait.
	for i := range NATSClusterSize {
		if err := c.start(i); err != nil {
			t.Fatalf("testenv: nats cluster: %v", err)
			return nil
		}
	}
	c.waitCurrent()
	if o.proxied {
		for i := range NATSClusterSize {
			c.proxies = append(c.proxies, NewProxy(t, c.Addr(i)))
		}
	}
	return c
}

// Proxies returns the proxy in front of each server's client port; nil
// unless the cluster was started Proxied.
func (c *NATSCluster) Proxies() []*Proxy { return append([]*Proxy(nil), c.proxies...) }

// StopAll shuts every server down, as Stop does, all at once.
func (c *NATSCluster) StopAll() {
	c.t.Helper()
	c.shutdownAll()
}

// StartAll starts every server that is not running on its address and
// store, and returns once the cluster agrees on a JetStream meta leader
// with every server current and every stream led and replicated on every
// server (see WaitStreams).
func (c *NATSCluster) StartAll() {
	c.t.Helper()
	for i := range NATSClusterSize {
		if !c.Running(i) {
			testkit.EventuallyNil(c.t, natsWait, "nats-server "+c.Addr(i)+" to start again", func() error { return c.start(i) })
		}
	}
	c.waitCurrent()
	c.WaitStreams()
}

// Empty removes every stopped server's JetStream store, so that it starts
// again with nothing: with every server emptied, the cluster has no
// streams left.
func (c *NATSCluster) Empty() {
	c.t.Helper()
	for i := range NATSClusterSize {
		if c.Running(i) {
			c.t.Fatalf("testenv: nats cluster: Empty while %s runs", c.Addr(i))
			return
		}
		entries, err := os.ReadDir(c.opts[i].StoreDir)
		if err != nil {
			c.t.Fatalf("testenv: nats cluster: %v", err)
			return
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(c.opts[i].StoreDir, e.Name())); err != nil {
				c.t.Fatalf("testenv: nats cluster: %v", err)
				return
			}
		}
	}
}

// WaitStreams waits until every JetStream stream of the cluster has a
// leader and as many replicas as it asks for, every one current, as the
// meta leader reports them.
func (c *NATSCluster) WaitStreams() {
	c.t.Helper()
	testkit.EventuallyNil(c.t, clusterWait, "every stream led and its replicas current", c.streamsCurrent)
}

func (c *NATSCluster) streamsCurrent() error {
	if c.MetaLeader() < 0 {
		return errors.New("no meta leader")
	}
	c.mu.Lock()
	servers := slices.Clone(c.srv)
	c.mu.Unlock()
	// Only a stream's leader knows how current its replicas are: each
	// stream any server holds must be reported, by its leader, with every
	// replica current.
	streams := make(map[string]error)
	for _, srv := range servers {
		if srv == nil {
			continue
		}
		jsz, err := srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Config: true})
		if err != nil {
			return err
		}
		for _, a := range jsz.AccountDetails {
			for _, st := range a.Streams {
				if _, seen := streams[st.Name]; !seen {
					streams[st.Name] = fmt.Errorf("stream %s: no leader reports it", st.Name)
				}
				if st.Cluster == nil || st.Cluster.Leader != srv.Name() {
					continue
				}
				want := 1
				if st.Config != nil {
					want = max(st.Config.Replicas, 1)
				}
				current := 1 // the leader
				for _, r := range st.Cluster.Replicas {
					if r.Current && !r.Offline {
						current++
					}
				}
				streams[st.Name] = nil
				if current != want {
					streams[st.Name] = fmt.Errorf("stream %s: %d of %d replicas current", st.Name, current, want)
				}
			}
		}
	}
	for _, err := range streams {
		if err != nil {
			return err
		}
	}
	return nil
}

// URL lists every server, as the NATS broker reads it:
// nats://a,nats://b,nats://c — their proxies' addresses when the cluster
// is Proxied. A client connects to any and, unless Proxied, learns the
// others from the cluster.
func (c *NATSCluster) URL() string {
	urls := make([]string, NATSClusterSize)
	for i := range urls {
		urls[i] = "nats://" + c.Addr(i)
		if c.proxies != nil {
			urls[i] = "nats://" + c.proxies[i].Addr()
		}
	}
	return strings.Join(urls, ",")
}

// Addr is server i's client address, "127.0.0.1:port". It stays the same
// across Stop and Start.
func (c *NATSCluster) Addr(i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opts[i].Port))
}

// Running reports whether server i is up.
func (c *NATSCluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv[i] != nil
}

// Stop shuts server i down and waits until it has: its clients see their
// connections close and move to the others, and the others elect new
// leaders for what it led. Stopping a server that is not running does
// nothing.
func (c *NATSCluster) Stop(i int) {
	c.t.Helper()
	c.shutdown(i)
}

// Start starts server i again on its address and store and returns once the
// cluster agrees on a JetStream meta leader with it back in.
func (c *NATSCluster) Start(i int) {
	c.t.Helper()
	c.shutdown(i)
	testkit.EventuallyNil(c.t, natsWait, "nats-server "+c.Addr(i)+" to start again", func() error { return c.start(i) })
	c.waitCurrent()
}

// MetaLeader returns the index of the server that leads JetStream's meta
// group now, or -1 when none does.
func (c *NATSCluster) MetaLeader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.srv {
		if s != nil && s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// waitCurrent waits until a meta leader is elected and every running server
// is current with it.
func (c *NATSCluster) waitCurrent() {
	c.t.Helper()
	testkit.EventuallyWithin(c.t, clusterWait, "the NATS cluster to elect a JetStream meta leader", func() bool {
		if c.MetaLeader() < 0 {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.srv {
			if s != nil && !s.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
}

// start runs server i and waits until it accepts clients.
func (c *NATSCluster) start(i int) error {
	opts := c.opts[i] // the server keeps and changes what it is given
	opts.Routes = append([]*url.URL(nil), c.opts[i].Routes...)
	srv, err := server.NewServer(&opts)
	if err != nil {
		return err
	}
	srv.Start()
	if !srv.ReadyForConnections(natsWait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("%s not accepting clients after %v", c.Addr(i), natsWait)
	}
	c.mu.Lock()
	c.srv[i] = srv
	c.mu.Unlock()
	return nil
}

func (c *NATSCluster) shutdown(i int) {
	c.mu.Lock()
	srv := c.srv[i]
	c.srv[i] = nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

func (c *NATSCluster) shutdownAll() {
	var wg sync.WaitGroup
	for i := range NATSClusterSize {
		wg.Go(func() { c.shutdown(i) })
	}
	wg.Wait()
}
