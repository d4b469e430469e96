package bench_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/bench"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// These are smoke tests: each scenario runs briefly with a few connections
// so the tool keeps working. They assert what must hold whatever the speed
// (nothing lost, nothing duplicated, every number filled in), never a
// timing.

// binary is the switchboard executable, built once: the scenarios measure
// a node over the network, so they need a real one.
var binary string

func TestMain(m *testing.M) {
	code := testkit.RunWithSwitchboard(m, &binary)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startNode(t *testing.T) *bench.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := bench.Start(ctx, bench.Launch{Binary: binary, CPU: -1, Args: []string{"--log-level", "warn"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// inProcessFloor serves the floor from the test process.
func inProcessFloor(t *testing.T) *bench.Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bench.ServeFloor(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeFloor: %v", err)
		}
	})
	return &bench.Node{Addr: ln.Addr().String(), PID: os.Getpid()}
}

func checkLoad(t *testing.T, res bench.LoadResult, subs int) {
	t.Helper()
	t.Logf("%+v", res)
	if res.Publications == 0 || res.Delivered == 0 {
		t.Fatalf("nothing published or delivered: %+v", res)
	}
	if res.Lost != 0 || res.Duplicates != 0 || res.Ended != 0 {
		t.Errorf("lost %d, duplicated %d, dropped connections %d; want 0", res.Lost, res.Duplicates, res.Ended)
	}
	if res.Delivered != res.Expected {
		t.Errorf("delivered %d of %d", res.Delivered, res.Expected)
	}
	if res.Subscribers != subs || res.DeliveriesPerSec <= 0 {
		t.Errorf("result not filled in: %+v", res)
	}
	if res.Latency.Count == 0 || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P999 {
		t.Errorf("latency not recorded: %+v", res.Latency)
	}
}

func TestBroadcast(t *testing.T) {
	node := startNode(t)
	for _, tr := range bench.Transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := bench.Load(ctx, bench.LoadConfig{
				Node: node, Transport: tr, Subscribers: 20, Duration: time.Second,
				PollInterval: 100 * time.Millisecond, SourceAddrs: []string{"127.0.0.1", "127.0.0.2"},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, res, 20)
			if res.Scenario != "broadcast" || res.ServerCPU <= 0 {
				t.Errorf("scenario %q, server CPU %v", res.Scenario, res.ServerCPU)
			}
		})
	}
}

func TestChannelsAtFixedRate(t *testing.T) {
	node := startNode(t)
	for _, tr := range bench.Transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := bench.Load(ctx, bench.LoadConfig{
				Node: node, Transport: tr, Subscribers: 30, Channels: 10, Rate: 50, Duration: time.Second,
				PollInterval: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, res, 30)
			if res.Scenario != "channels" || res.Channels != 10 {
				t.Errorf("scenario %q over %d channels", res.Scenario, res.Channels)
			}
		})
	}
}

func TestFloor(t *testing.T) {
	floor := inProcessFloor(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.Load(ctx, bench.LoadConfig{
		Node: floor, Transport: bench.Floor, Subscribers: 20, Channels: 2, Messages: 200, Duration: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, res, 20)
	if res.Publications != 200 {
		t.Errorf("published %d, want 200", res.Publications)
	}
}

func TestFloorLaunched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	floor, err := bench.StartFloor(ctx, bench.Launch{Binary: binary, CPU: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer floor.Stop()
	res, err := bench.Load(ctx, bench.LoadConfig{
		Node: floor, Transport: bench.Floor, Subscribers: 10, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, res, 10)
}

// TestStorm cuts every client's sockets under it, over each transport: each
// must reconnect and resume with nothing lost or repeated.
func TestStorm(t *testing.T) {
	node := startNode(t)
	for _, tr := range bench.Transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := bench.Storm(ctx, bench.StormConfig{
				Node: node, Transport: tr, Clients: 20, Channels: 4, Rate: 100,
				Before: 300 * time.Millisecond, After: 300 * time.Millisecond,
				PollInterval: 100 * time.Millisecond, SourceAddrs: []string{"127.0.0.1", "127.0.0.2"},
			})
			t.Logf("%+v", res)
			if err != nil {
				t.Fatal(err)
			}
			if res.Lost != 0 || res.Duplicates != 0 || res.Gaps != 0 {
				t.Errorf("lost %d, duplicated %d, gaps %d; want 0", res.Lost, res.Duplicates, res.Gaps)
			}
			if res.Publications == 0 || res.Delivered != res.Expected || res.Expected == 0 {
				t.Errorf("delivered %d of %d (publications %d)", res.Delivered, res.Expected, res.Publications)
			}
			if res.CatchUpMax <= 0 {
				t.Errorf("catch-up time not measured: %+v", res)
			}
		})
	}
}

func TestIdle(t *testing.T) {
	node := startNode(t)
	for _, tr := range bench.Transports {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := bench.Idle(ctx, bench.IdleConfig{Node: node, Transport: tr, Conns: 30, Channels: 5, PollInterval: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Transport != tr || res.Conns != 30 || res.Loaded.Anon <= 0 || res.Baseline.Anon <= 0 {
				t.Errorf("result not filled in: %+v", res)
			}
		})
	}
}

func TestReadCPU(t *testing.T) {
	before, err := bench.ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock-tick counter moves.
	testkit.Eventually(t, fmt.Sprintf("CPU time to move from %v", before), func() bool {
		x := 0
		for i := range 10_000_000 {
			x += i
		}
		_ = x
		now, err := bench.ReadCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		return now > before
	})
}

func TestConnect(t *testing.T) {
	const conns = 500
	for _, tc := range []struct{ tls, stepwise bool }{{false, false}, {true, false}, {false, true}} {
		tls := tc.tls
		t.Run(fmt.Sprintf("tls=%v/stepwise=%v", tls, tc.stepwise), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			node, err := bench.Start(ctx, bench.Launch{Binary: binary, CPU: -1, TLS: tls, Args: []string{"--log-level", "error"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(node.Stop)
			if tls != (node.TLS != nil) || tls != strings.HasPrefix(node.URL, "https://") {
				t.Fatalf("launched with TLS %v: node %s, client config %v", tls, node.URL, node.TLS != nil)
			}
			// Enough connections that the node's CPU time, which /proc
			// counts in 10 ms clock ticks, cannot round down to zero.
			res, err := bench.Connect(ctx, bench.ConnectConfig{Node: node, Conns: conns, Concurrency: 10, Channels: 5, Stepwise: tc.stepwise})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			want := "websocket"
			if tls {
				want = "websocket+tls"
			}
			sum := 0
			for _, n := range res.PerSecond {
				sum += n
			}
			if res.Transport != want || res.Stepwise != tc.stepwise || res.Connected != conns || res.Failed != 0 || sum != conns {
				t.Errorf("transport %q, connected %d, failed %d, per second %v; want %s, %d, 0, %[6]d in all", res.Transport, res.Connected, res.Failed, res.PerSecond, want, conns)
			}
			if res.PerSec <= 0 || res.Latency.Count != conns || res.Latency.P50 <= 0 || res.ServerCPU <= 0 {
				t.Errorf("result not filled in: %+v", res)
			}
		})
	}
}

// TestPresence runs the presence scenario small: every client joins, each
// hears of the joins (the node's chat namespace has join/leave on), and
// the canary gets every publication.
func TestPresence(t *testing.T) {
	node := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 50
	res, err := bench.Presence(ctx, bench.PresenceConfig{Node: node, Subscribers: n, Concurrency: 10, CanaryRate: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Connected != n || res.TimedOut != 0 || res.Failed != 0 || res.Ended != 0 {
		t.Errorf("connected %d, timed out %d, failed %d, dropped %d; want %d, 0, 0, 0", res.Connected, res.TimedOut, res.Failed, res.Ended, n)
	}
	// Each client hears at least its own join, and the last one's join
	// reaches everyone.
	if res.Pushes < n {
		t.Errorf("the crowd received %d join frames, want at least %d", res.Pushes, n)
	}
	if res.CanarySent == 0 || res.CanaryLost != 0 || res.Canary.Count != res.CanarySent {
		t.Errorf("canary: sent %d, lost %d, latencies %d", res.CanarySent, res.CanaryLost, res.Canary.Count)
	}
	if res.ConnectTime <= 0 || res.ConnectLatency.Count != n || res.ServerCPU <= 0 {
		t.Errorf("result not filled in: %+v", res)
	}
}
