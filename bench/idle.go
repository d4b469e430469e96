package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// IdleConfig configures the idle scenario: many subscribed connections that
// receive nothing, to measure what one costs the node.
type IdleConfig struct {
	// Node is the node under test; PID must be set to read its RSS.
	Node *Node
	// Transport is WebSocket (default), SSE, LongPoll, Poll or GRPC. A short-polling
	// client holds nothing on the node between polls but its HTTP
	// keep-alive connection, which is what Poll measures.
	Transport string
	// PollInterval is the pause between short polls. Default 1s.
	PollInterval time.Duration
	// Conns is how many connections to hold. Default 10,000.
	Conns int
	// Channels spreads the connections over this many channels. Default 100.
	Channels int
	// SourceAddrs are local addresses to dial from (default: the system's).
	SourceAddrs []string
	// Progress is called after each connection is subscribed.
	Progress func()
	// Hold keeps the connections open this long after measuring.
	Hold time.Duration
}

// IdleResult is what the idle scenario measured.
type IdleResult struct {
	Transport   string  `json:"transport"`
	Conns       int     `json:"conns"`
	Baseline    RSS     `json:"baseline_rss"`
	Loaded      RSS     `json:"loaded_rss"`
	PerConnAnon float64 `json:"per_conn_anon_bytes"`
	PerConnRSS  float64 `json:"per_conn_rss_bytes"`
	// PerConnHeap and PerConnStack split the growth by the node's own Go
	// accounting: heap in use and goroutine stacks.
	PerConnHeap  float64 `json:"per_conn_heap_bytes"`
	PerConnStack float64 `json:"per_conn_stack_bytes"`
	// GoroutinesPerConn is the node's goroutine growth per connection.
	GoroutinesPerConn float64       `json:"goroutines_per_conn"`
	ConnectTime       time.Duration `json:"connect_time_ns"`
}

// Idle opens the connections, lets the node collect its garbage, and reads
// its resident memory before and after.
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 10_000
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 100
	}
	if cfg.Transport == "" {
		cfg.Transport = WebSocket
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	n := cfg.Node
	res := IdleResult{Transport: cfg.Transport, Conns: cfg.Conns}
	var err error
	var before, after map[string]any
	if res.Baseline, before, err = settledRSS(ctx, n); err != nil {
		return res, err
	}
	src := &sourceDialer{addrs: cfg.SourceAddrs}
	channel := func(i int) string { return "bench.idle." + strconv.Itoa(i%cfg.Channels) }
	start := time.Now()
	if cfg.Transport == WebSocket {
		subs, wg, err := openSubscribers(ctx, n.URL, src, cfg.Conns, channel, cfg.Progress)
		if err != nil {
			return res, err
		}
		defer func() {
			closeSubscribers(subs)
			wg.Wait()
		}()
	} else {
		fl := newFleet(ctx, cfg.Transport, n.URL, "", src, cfg.Conns, cfg.PollInterval)
		defer fl.close()
		err := openAll(ctx, cfg.Conns, func(ctx context.Context, i int) error {
			return fl.open(ctx, i, channel(i))
		}, cfg.Progress)
		if err != nil {
			return res, err
		}
	}
	res.ConnectTime = time.Since(start)
	if res.Loaded, after, err = settledRSS(ctx, n); err != nil {
		return res, err
	}
	per := func(a, b int64) float64 { return float64(a-b) / float64(cfg.Conns) }
	stat := func(m map[string]any, k string) int64 { v, _ := m[k].(float64); return int64(v) }
	res.PerConnAnon = per(res.Loaded.Anon, res.Baseline.Anon)
	res.PerConnRSS = per(res.Loaded.Total, res.Baseline.Total)
	res.PerConnHeap = per(stat(after, "heap_inuse"), stat(before, "heap_inuse"))
	res.PerConnStack = per(stat(after, "stack_inuse"), stat(before, "stack_inuse"))
	res.GoroutinesPerConn = per(stat(after, "goroutines"), stat(before, "goroutines"))
	if cfg.Hold > 0 {
		select {
		case <-time.After(cfg.Hold):
		case <-ctx.Done():
		}
	}
	return res, nil
}

// settledRSS collects the node's garbage and reads its RSS once two
// readings a moment apart agree within 1%.
func settledRSS(ctx context.Context, n *Node) (RSS, map[string]any, error) {
	var last RSS
	var stats map[string]any
	for i := 0; i < 20; i++ {
		var err error
		if stats, err = CollectGarbage(ctx, n.URL, n.APIKey); err != nil {
			return RSS{}, nil, fmt.Errorf("collect garbage: %w", err)
		}
		r, err := ReadRSS(n.PID)
		if err != nil {
			return RSS{}, nil, err
		}
		if last.Anon > 0 && abs(r.Anon-last.Anon) <= last.Anon/100 {
			return r, stats, nil
		}
		last = r
		select {
		case <-ctx.Done():
			return RSS{}, nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return last, stats, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
