package testenv_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// A stream with three replicas takes writes on a cluster of three, keeps
// taking them with one server stopped, and has every message again on
// every server once that server is back.
func TestNATSCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NewNATSCluster(t)
	if n := strings.Count(c.URL(), "nats://"); n != testenv.NATSClusterSize {
		t.Fatalf("URL %s names %d servers", c.URL(), n)
	}
	nc, err := natsgo.Connect(c.URL(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	sent := 0
	publish := func(stage string, n int) {
		t.Helper()
		for range n {
			sent++
			id := strconv.Itoa(sent)
			for {
				// One attempt may go to the server just stopped and wait
				// for an answer that never comes: bound each, and let the
				// message id make a retry of a stored one a no-op.
				actx, acancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := js.Publish(actx, "t.x", []byte("m"), jetstream.WithMsgID(id))
				acancel()
				if err == nil {
					break
				} else if ctx.Err() != nil {
					t.Fatalf("publish %s: %v (last error %v)", stage, ctx.Err(), err)
				}
			}
		}
	}
	publish("before", 10)
	leader := c.MetaLeader()
	if leader < 0 {
		t.Fatal("no meta leader")
	}
	c.Stop(leader)
	if c.Running(leader) {
		t.Fatal("Stop left the server running")
	}
	publish("one server stopped", 10) // two of three keep a quorum
	c.Start(leader)
	if !c.Running(leader) {
		t.Fatal("Start did not start the server")
	}
	publish("after the restart", 10)
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 30 {
		t.Errorf("the stream holds %d messages, want 30", info.State.Msgs)
	}
	if n := len(info.Cluster.Replicas); n != 2 {
		t.Errorf("the stream has %d replicas beside its leader, want 2", n)
	}
}

// A Proxied cluster is reached through its proxies only: a cut of every
// proxy leaves the client nothing to reach, and leaves the cluster whole.
// Stopped and started all at once, it keeps its streams, three replicas
// each, with their messages.
func TestNATSClusterProxied(t *testing.T) {
	t.Parallel()
	c := testenv.NewNATSCluster(t, testenv.Proxied())
	proxies := c.Proxies()
	for i, p := range proxies {
		if !strings.Contains(c.URL(), p.Addr()) || strings.Contains(c.URL(), c.Addr(i)) {
			t.Fatalf("URL %s does not name proxy %s alone", c.URL(), p.Addr())
		}
	}
	disconnected := make(chan struct{}, 1)
	nc, err := natsgo.Connect(c.URL(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond),
		natsgo.DisconnectErrHandler(func(*natsgo.Conn, error) {
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, u := range nc.Servers() {
		if !strings.Contains(c.URL(), strings.TrimPrefix(u, "nats://")) {
			t.Errorf("the client learned %s, which is no proxy", u)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := js.Publish(ctx, "t.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}

	for _, p := range proxies {
		p.SetBlocked(true)
		p.CutAll()
	}
	select {
	case <-disconnected:
	case <-ctx.Done():
		t.Fatal("the client never lost its connection to the cut cluster")
	}
	leader := c.MetaLeader()
	c.WaitStreams() // the routes carry on
	for _, p := range proxies {
		p.SetBlocked(false)
	}
	if c.MetaLeader() != leader {
		t.Errorf("the meta leader changed during the cut")
	}

	c.StopAll()
	for i := range testenv.NATSClusterSize {
		if c.Running(i) {
			t.Fatalf("server %d still runs after StopAll", i)
		}
	}
	c.StartAll()
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 || info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Errorf("after StopAll and StartAll: %d messages, %d replicas (%d beside the leader); want 5, 3, 2",
			info.State.Msgs, info.Config.Replicas, len(info.Cluster.Replicas))
	}
}
