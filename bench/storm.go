package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/switchboardhq/switchboard/client"
)

// StormConfig configures the storm scenario: every client drops at the same
// moment while publications go on, and all of them come back at once,
// resuming from the positions they had.
//
// It uses the Go client (package client), since what it measures is the
// SDK and the node resuming together; over gRPC, which the Go client does
// not speak, a subscriber of the benchmark's own resumes the same way
// (grpcstorm.go). Every socket a client opens goes
// through its Options.Dial, which keeps it; the drop closes each client's
// sockets under it, as when a network or a load balancer fails, and each
// client notices, reconnects and resumes by itself.
type StormConfig struct {
	// Node is the node under test.
	Node *Node
	// Transport is WebSocket, SSE, LongPoll, Poll or GRPC. Default
	// WebSocket.
	Transport string
	// Clients is how many clients drop and come back. Default 10,000.
	Clients int
	// Channels spreads the clients over this many channels. Default 100.
	Channels int
	// Rate is publications per second, over all channels, for the whole
	// run. Default 100.
	Rate float64
	// Before is how long publications flow before the drop, and After how
	// long they go on once every client caught up. Default 1s each.
	Before, After time.Duration
	// PollInterval is the pause between short polls. Default 1s.
	PollInterval time.Duration
	// SourceAddrs are local addresses to bind the clients' sockets to,
	// one per client in turn (default: the system's choice).
	SourceAddrs []string
	// Progress is called after each client subscribed the first time.
	Progress func()
}

// StormResult is what a storm measured. Lost and Duplicates count, over
// every client, the publications an application would have missed or seen
// twice across the drop: both must be 0.
type StormResult struct {
	Transport    string        `json:"transport"`
	Clients      int           `json:"clients"`
	Channels     int           `json:"channels"`
	Publications int64         `json:"publications"`
	Expected     int64         `json:"expected_deliveries"`
	Delivered    int64         `json:"delivered"`
	Lost         int64         `json:"lost"`
	Duplicates   int64         `json:"duplicates"`
	Gaps         int64         `json:"gaps"` // recovered: false, which must not happen within history
	ConnectTime  time.Duration `json:"connect_time_ns"`
	// CatchUp is, from the moment every client's sockets are closed, how
	// long until each has a socket again and everything published before
	// that moment: the median, the 99th percentile and the last client.
	CatchUpP50 time.Duration `json:"catch_up_p50_ns"`
	CatchUpP99 time.Duration `json:"catch_up_p99_ns"`
	CatchUpMax time.Duration `json:"catch_up_max_ns"`
}

// stormClient is one client's view across the drop; only its consumer
// goroutine writes the plain fields until that goroutine is done.
type stormClient struct {
	channel int
	local   *net.TCPAddr // nil: the system's choice
	epoch   string
	start   uint64 // the channel's position when the client first subscribed
	last    uint64
	unique  int64
	dups    int64
	lost    int64
	gaps    int64

	// Shared with the dialing goroutines and the storm's own.
	seen     atomic.Uint64
	target   atomic.Uint64 // caught up once seen reaches it, after the drop
	dropped  atomic.Bool
	redialed atomic.Bool  // a socket was opened since the drop
	caughtAt atomic.Int64 // unix nanoseconds; 0 until caught up

	mu    sync.Mutex
	conns map[*stormConn]struct{} // the sockets open now
}

// stormConn is a client's socket, forgotten when the client closes it.
type stormConn struct {
	net.Conn
	sc *stormClient
}

func (c *stormConn) Close() error {
	c.sc.mu.Lock()
	delete(c.sc.conns, c)
	c.sc.mu.Unlock()
	return c.Conn.Close()
}

// dial is the client's Options.Dial: it binds the socket to the client's
// source address and keeps it for the drop.
func (sc *stormClient) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{}
	if sc.local != nil {
		d.LocalAddr = sc.local
	}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &stormConn{Conn: nc, sc: sc}
	sc.mu.Lock()
	sc.conns[c] = struct{}{}
	sc.mu.Unlock()
	if sc.dropped.Load() {
		sc.redialed.Store(true)
	}
	return c, nil
}

// drop closes every socket the client has open, under it.
func (sc *stormClient) drop() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.dropped.Store(true)
	for c := range sc.conns {
		_ = c.Conn.Close()
		delete(sc.conns, c)
	}
}

func (sc *stormClient) lastSeen() uint64 { return sc.seen.Load() }

// checkCaught notes the moment the client, on a socket opened since the
// drop, has every publication made before it.
func (sc *stormClient) checkCaught() {
	if sc.redialed.Load() && sc.seen.Load() >= sc.target.Load() {
		sc.caughtAt.CompareAndSwap(0, time.Now().UnixNano())
	}
}
func (sc *stormClient) caughtDone() bool { return sc.caughtAt.Load() != 0 }

// first notes where the client starts: the channel's position when it
// first subscribed.
func (sc *stormClient) first(epoch string, offset uint64) {
	sc.epoch, sc.start, sc.last = epoch, offset, offset
	sc.seen.Store(sc.last)
}

// publication counts one publication the application sees: new, repeated,
// or after a hole.
func (sc *stormClient) publication(offset uint64) {
	switch {
	case offset <= sc.last:
		sc.dups++
		return
	case offset > sc.last+1:
		sc.lost += int64(offset - sc.last - 1)
	}
	sc.last = offset
	sc.seen.Store(sc.last)
	sc.unique++
	sc.checkCaught()
}

// consume reads the subscription's events until it ends. subscribed is
// closed at the first Subscribed event.
func (sc *stormClient) consume(sub *client.Subscription, subscribed chan<- struct{}) {
	ctx := context.Background()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		switch ev := ev.(type) {
		case client.Subscribed:
			if subscribed != nil {
				sc.first(ev.Position.Epoch, ev.Position.Offset)
				close(subscribed)
				subscribed = nil
			}
			sc.checkCaught()
		case client.Publication:
			sc.publication(ev.Offset)
		case client.Gap:
			sc.gaps++
		case client.Unsubscribed:
			return
		}
	}
}

// Storm runs the storm scenario.
func Storm(ctx context.Context, cfg StormConfig) (StormResult, error) {
	cfg = cfg.withDefaults()
	res := StormResult{Transport: cfg.Transport, Clients: cfg.Clients, Channels: cfg.Channels}
	var kind client.Transport
	switch cfg.Transport {
	case WebSocket:
		kind = client.WebSocket
	case SSE:
		kind = client.SSE
	case LongPoll:
		kind = client.LongPoll
	case Poll:
		kind = client.ShortPoll
	case GRPC:
		// The Go client has no gRPC transport: a resuming subscriber of
		// the benchmark's own (grpcstorm.go).
	default:
		return res, fmt.Errorf("storm: unknown transport %q", cfg.Transport)
	}
	var locals []*net.TCPAddr
	for _, a := range cfg.SourceAddrs {
		ip := net.ParseIP(a)
		if ip == nil {
			return res, fmt.Errorf("storm: source address %q is not an IP address", a)
		}
		locals = append(locals, &net.TCPAddr{IP: ip})
	}
	node := cfg.Node
	channels := channelNames("bench.storm", cfg.Channels)
	clients := make([]*stormClient, cfg.Clients)
	for i := range clients {
		clients[i] = &stormClient{channel: i % cfg.Channels, conns: make(map[*stormConn]struct{})}
		if len(locals) > 0 {
			clients[i].local = locals[i%len(locals)]
		}
	}

	// Every client runs until the end; end cancels them and waits for the
	// consumers to see the last event.
	cctx, cancel := context.WithCancel(ctx)
	var runs, consumers sync.WaitGroup
	var runErr atomic.Pointer[error]
	end := func() {
		cancel()
		runs.Wait()
		consumers.Wait()
	}
	defer end()
	ready := make([]chan struct{}, len(clients))
	for i, sc := range clients {
		ready[i] = make(chan struct{})
		if cfg.Transport == GRPC {
			runs.Add(1)
			go func() {
				defer runs.Done()
				if err := sc.runGRPC(cctx, node.URL, channels[sc.channel], ready[i]); err != nil {
					runErr.CompareAndSwap(nil, &err)
				}
			}()
			continue
		}
		c, err := client.New(node.URL, client.Options{
			Transports:      []client.Transport{kind},
			Dial:            sc.dial,
			OpenTimeout:     60 * time.Second,
			PollInterval:    cfg.PollInterval,
			UpgradeInterval: -1,
			Logger:          slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return res, err
		}
		sub, err := c.Subscribe(channels[sc.channel], client.SubscribeOptions{})
		if err != nil {
			return res, err
		}
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			sc.consume(sub, ready[i])
		}()
		runs.Add(1)
		go func() {
			defer runs.Done()
			if err := c.Run(cctx); err != nil {
				runErr.CompareAndSwap(nil, &err)
			}
		}()
	}
	start := time.Now()
	for _, r := range ready {
		select {
		case <-r:
		case <-ctx.Done():
			return res, fmt.Errorf("connecting: %w", ctx.Err())
		}
		if e := runErr.Load(); e != nil {
			return res, fmt.Errorf("connecting: %w", *e)
		}
		if cfg.Progress != nil {
			cfg.Progress()
		}
	}
	res.ConnectTime = time.Since(start)

	// Publish through the whole run, recording each channel's latest.
	latest := make([]atomic.Uint64, cfg.Channels)
	pubs, err := newPublishers(ctx, 4, node, cfg.Transport)
	if err != nil {
		return res, err
	}
	defer closePublishers(pubs)
	pctx, stopPublishing := context.WithCancel(ctx)
	s := &schedule{sink: newSink(), channels: channels, perChan: make([]int64, cfg.Channels), rate: cfg.Rate,
		start: time.Now(), end: time.Now().Add(24 * time.Hour),
		onPublished: func(ch int, off uint64) {
			for {
				cur := latest[ch].Load()
				if off <= cur || latest[ch].CompareAndSwap(cur, off) {
					return
				}
			}
		}}
	published := make(chan error, 1)
	go func() { published <- publishAll(pctx, s, pubs, 100) }()
	stop := func() error {
		// Halt rather than cancel: a publish cut mid-request may still
		// have been made, and its offset would be missing from latest.
		s.halt.Store(true)
		defer stopPublishing()
		if err := <-published; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}

	pause := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	pause(cfg.Before)
	// The drop: every client's sockets closed at once; the storm follows,
	// every client reconnecting and resuming by itself.
	for _, sc := range clients {
		sc.target.Store(latest[sc.channel].Load())
	}
	t1 := time.Now()
	for _, sc := range clients {
		sc.drop()
	}
	waitFor := func(done func(sc *stormClient) bool, limit time.Duration) bool {
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			all := true
			for _, sc := range clients {
				if !done(sc) {
					all = false
					break
				}
			}
			if all {
				return true
			}
			pause(20 * time.Millisecond)
		}
		return false
	}
	// The consumers own the clients' plain fields until they end: progress
	// is read through the atomic ones.
	caught := waitFor(func(sc *stormClient) bool { return sc.caughtDone() }, 2*time.Minute)
	pause(cfg.After)
	if err := stop(); err != nil {
		return res, err
	}
	res.Publications = s.published.Load()
	waitFor(func(sc *stormClient) bool { return sc.lastSeen() >= latest[sc.channel].Load() }, 30*time.Second)
	end()
	if e := runErr.Load(); e != nil {
		return res, *e
	}

	h := hdrhistogram.New(1, maxLatencyMicros, 3)
	for _, sc := range clients {
		final := latest[sc.channel].Load()
		exp := int64(final - sc.start)
		res.Expected += exp
		res.Delivered += sc.unique
		res.Lost += max(exp-sc.unique, 0)
		res.Duplicates += sc.dups
		res.Gaps += sc.gaps
		if at := sc.caughtAt.Load(); at != 0 {
			_ = h.RecordValue(max(time.Unix(0, at).Sub(t1).Microseconds(), 1))
		}
	}
	if h.TotalCount() > 0 {
		lat := summarize(h)
		res.CatchUpP50, res.CatchUpP99, res.CatchUpMax = lat.P50, lat.P99, lat.Max
	}
	if !caught {
		return res, fmt.Errorf("storm: %d of %d clients did not catch up within 2 minutes", int64(len(clients))-h.TotalCount(), len(clients))
	}
	return res, nil
}

func (cfg StormConfig) withDefaults() StormConfig {
	if cfg.Transport == "" {
		cfg.Transport = WebSocket
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 10_000
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 100
	}
	cfg.Channels = min(cfg.Channels, cfg.Clients)
	if cfg.Rate <= 0 {
		cfg.Rate = 100
	}
	if cfg.Before <= 0 {
		cfg.Before = time.Second
	}
	if cfg.After <= 0 {
		cfg.After = time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	return cfg
}
