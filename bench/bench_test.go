package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

// TestFloorLongPoll runs the bench's long-poll subscribers against the
// floor: every publication reaches every poll once, in order, whether the
// poll waited for it or came back behind (many publications flat out).
func TestFloorLongPoll(t *testing.T) {
	floor := inProcessFloor(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.Load(ctx, bench.LoadConfig{
		Node: floor, Transport: bench.FloorLongPoll, Subscribers: 20, Channels: 2, Messages: 300, Duration: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, res, 20)
	if res.Publications != 300 {
		t.Errorf("published %d, want 300", res.Publications)
	}
}

// TestFloorLongPollReply holds the floor's reply to a node's: the same
// status line and headers in the same order, and a body of the same size
// for the same publication.
func TestFloorLongPollReply(t *testing.T) {
	node := startNode(t)
	floor := inProcessFloor(t)
	channel := "bench.broadcast.0123abcd.0"
	data := `{"t":1,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`
	nodeReply := pollAfterPublish(t, "127.0.0.1:"+portOf(t, node.URL), channel, func() {
		r := testkit.Do(t, nil, testkit.NewRequest(t, http.MethodPost, node.URL+"/api/publish", `{"channel":"`+channel+`","data":`+data+`}`,
			func(r *http.Request) { r.Header.Set("Authorization", "apikey "+node.APIKey) }))
		if r.Status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	})
	floorReply := pollAfterPublish(t, floor.Addr, channel, func() {
		c, err := net.Dial("tcp", floor.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "P\n"+channel+" "+data+"\n"); err != nil {
			t.Fatal(err)
		}
		if ok, err := bufio.NewReader(c).ReadString('\n'); err != nil || ok != "ok\n" {
			t.Fatalf("publish to the floor: %q %v", ok, err)
		}
	})
	shape := func(b []byte) (names []string, bodyLen int) {
		head, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		for _, l := range strings.Split(string(head), "\r\n") {
			name, _, _ := strings.Cut(l, ":")
			names = append(names, name)
		}
		return names, len(body)
	}
	nn, nl := shape(nodeReply)
	fn, fl := shape(floorReply)
	t.Logf("node:\n%s\nfloor:\n%s", nodeReply, floorReply)
	if strings.Join(nn, "|") != strings.Join(fn, "|") {
		t.Errorf("floor's head %q, node's %q", fn, nn)
	}
	if fl != nl || len(floorReply) != len(nodeReply) {
		t.Errorf("floor's reply %d bytes (body %d), node's %d (body %d)", len(floorReply), fl, len(nodeReply), nl)
	}
}

// pollAfterPublish takes a channel's position with a short poll, starts a
// long poll from it on the same connection, publishes, and returns the
// long poll's raw response.
func pollAfterPublish(t *testing.T, addr, channel string, publish func()) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	get := func(query string) *http.Response {
		if _, err := io.WriteString(c, "GET /connection/poll?channel="+channel+query+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("&timeout=0")
	body, _ := io.ReadAll(resp.Body)
	_, after, ok := bytes.Cut(body, []byte(`"cursor":"`))
	cursor, _, ok2 := bytes.Cut(after, []byte(`"`))
	if !ok || !ok2 {
		t.Fatalf("no cursor in %s", body)
	}
	if _, err := io.WriteString(c, "GET /connection/poll?channel="+channel+"&timeout=25&cursor="+string(cursor)+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	publish()
	var raw bytes.Buffer
	for !bytes.Contains(raw.Bytes(), []byte("\r\n\r\n")) || !bytes.HasSuffix(raw.Bytes(), []byte("}\n")) {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading the long poll's reply after %q: %v", raw.Bytes(), err)
		}
		raw.WriteByte(b)
	}
	return raw.Bytes()
}

func portOf(t *testing.T, u string) string {
	t.Helper()
	i := strings.LastIndexByte(u, ':')
	if i < 0 {
		t.Fatalf("no port in %q", u)
	}
	return u[i+1:]
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
