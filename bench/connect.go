package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ConnectConfig configures the connect scenario: how many WebSocket
// clients the node can take in per second, each connecting, sending its
// connect command and subscribing, as a crowd does when it comes back.
type ConnectConfig struct {
	// Node is the node under test; its TLS says whether clients use wss://.
	// The server's CPU is read from /proc when PID is set.
	Node *Node
	// Conns is how many clients connect and subscribe. Default 10,000.
	Conns int
	// Concurrency is how many are connecting at once. Default 200.
	Concurrency int
	// Channels spreads the clients over this many channels. Default 100.
	Channels int
	// SourceAddrs are local addresses to dial from (default: the system's).
	SourceAddrs []string
	// Stepwise makes each client wait for the 101 and for each reply
	// before its next write, as browsers do (RFC 6455 asks it); by default
	// the upgrade, connect and subscribe go out in one write.
	Stepwise bool
	// Progress is called after each client is subscribed.
	Progress func()
}

// ConnectResult is what the connect scenario measured. A client counts
// once its subscribe reply arrived; every client stays connected until
// the run ends.
type ConnectResult struct {
	Transport string        `json:"transport"` // websocket or websocket+tls
	Stepwise  bool          `json:"stepwise"`  // see ConnectConfig.Stepwise
	Conns     int           `json:"conns"`
	Connected int           `json:"connected"`
	Failed    int           `json:"failed"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// PerSec is connected clients divided by the elapsed time; PerSecond
	// the clients subscribed within each second of the run.
	PerSec    float64 `json:"connects_per_sec"`
	PerSecond []int   `json:"per_second"`
	// Latency is from dialing to the subscribe reply, per client.
	Latency Latency `json:"latency"`
	// ServerCPU is the node's CPU time over the run, CPUPerConn that
	// divided by the connected clients, and ServerBusy and ClientBusy the
	// cores the node and the load generator used meanwhile.
	ServerCPU  time.Duration `json:"server_cpu_ns"`
	CPUPerConn time.Duration `json:"cpu_per_conn_ns"`
	ServerBusy float64       `json:"server_busy_cores"`
	ClientBusy float64       `json:"client_busy_cores"`
	FirstError string        `json:"first_error,omitempty"`
}

// Connect opens the clients as fast as the node takes them.
func Connect(ctx context.Context, cfg ConnectConfig) (ConnectResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 10_000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 200
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 100
	}
	node := cfg.Node
	res := ConnectResult{Transport: WebSocket, Conns: cfg.Conns, Stepwise: cfg.Stepwise}
	if node.TLS != nil {
		res.Transport = WebSocket + "+tls"
	}
	channels := channelNames("bench.connect", cfg.Channels)
	dialer := newConnectDialer(node.URL, node.TLS, &sourceDialer{addrs: cfg.SourceAddrs}, channels, 30*time.Second, cfg.Stepwise)
	conns := make([]net.Conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()

	var (
		mu       sync.Mutex
		hist     = hdrhistogram.New(1, maxLatencyMicros, 3)
		perSec   []int
		failed   atomic.Int64
		firstErr error
		next     atomic.Int64 // the next client to open
	)
	// Concurrency workers, each opening one client after another: at
	// most that many connects are in flight, with no goroutine, timer or
	// buffer per client.
	var wg sync.WaitGroup
	cpu0, cpuErr := readCPU(node.PID)
	self0, selfErr := ReadCPU(os.Getpid())
	start := time.Now()
	for range min(cfg.Concurrency, cfg.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1024)
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Conns || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				c, err := dialer.dial(ctx, channels[i%cfg.Channels], buf)
				now := time.Now()
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
				_ = hist.RecordValue(min(max(now.Sub(t0).Microseconds(), 1), maxLatencyMicros))
				sec := int(now.Sub(start) / time.Second)
				for len(perSec) <= sec {
					perSec = append(perSec, 0)
				}
				perSec[sec]++
				mu.Unlock()
				if cfg.Progress != nil {
					cfg.Progress()
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	cpu1, cpuErr1 := readCPU(node.PID)
	self1, selfErr1 := ReadCPU(os.Getpid())
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Failed = int(failed.Load())
	for _, c := range conns {
		if c != nil {
			res.Connected++
		}
	}
	res.PerSec = float64(res.Connected) / res.Elapsed.Seconds()
	res.PerSecond = perSec
	res.Latency = summarize(hist)
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if cpuErr == nil && cpuErr1 == nil {
		res.ServerCPU = cpu1 - cpu0
		res.ServerBusy = res.ServerCPU.Seconds() / res.Elapsed.Seconds()
		if res.Connected > 0 {
			res.CPUPerConn = res.ServerCPU / time.Duration(res.Connected)
		}
	}
	if selfErr == nil && selfErr1 == nil && node.PID != os.Getpid() {
		res.ClientBusy = (self1 - self0).Seconds() / res.Elapsed.Seconds()
	}
	if res.Connected == 0 {
		return res, errors.Join(errors.New("no client connected"), firstErr)
	}
	return res, nil
}
