package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

// StormConfig configures the storm scenario: every client drops at the same
// moment while publications go on, and all of them come back at once,
// resuming from the positions they had.
//
// It uses the Go client (package client), since what it measures is the
// SDK and the node resuming together. A drop ends each client (its
// connections close, as when a network or a load balancer fails); each
// comes back as a new client subscribed from the position the application
// saw last — the resume every transport offers to a page or a process that
// restarts.
type StormConfig struct {
	// Node is the node under test.
	Node *Node
	// Transport is WS, SSE, LongPoll or Poll. Default WS.
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
	// SourceAddrs are local addresses for SSE and poll connections.
	SourceAddrs []string
	// Progress is called after each client of the first wave subscribed.
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
	// CatchUp is, from the moment every client reconnects, how long until
	// each had everything published before that moment: the median, the
	// 99th percentile and the last client.
	CatchUpP50 time.Duration `json:"catch_up_p50_ns"`
	CatchUpP99 time.Duration `json:"catch_up_p99_ns"`
	CatchUpMax time.Duration `json:"catch_up_max_ns"`
}

// stormClient is one client's view across both of its lives; only its
// consumer goroutine writes it until that goroutine is done.
type stormClient struct {
	channel  int
	epoch    string
	start    uint64 // the channel's position when the first life subscribed
	last     uint64
	unique   int64
	dups     int64
	lost     int64
	gaps     int64
	target   uint64 // caught up once last reaches it (second life)
	back     bool   // the second life is subscribed
	caughtAt time.Time

	// Mirrors for the goroutine that watches progress.
	seen   atomic.Uint64
	caught atomic.Bool
}

func (sc *stormClient) lastSeen() uint64 { return sc.seen.Load() }

// checkCaught notes the moment the second life is subscribed again and has
// every publication made before the storm.
func (sc *stormClient) checkCaught() {
	if sc.back && sc.caughtAt.IsZero() && sc.last >= sc.target {
		sc.caughtAt = time.Now()
		sc.caught.Store(true)
	}
}
func (sc *stormClient) caughtDone() bool { return sc.caught.Load() }

// consume reads one life's events until the subscription ends. subscribed
// is closed at the first Subscribed event.
func (sc *stormClient) consume(sub *client.Subscription, first bool, subscribed chan<- struct{}) {
	ctx := context.Background()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		switch ev := ev.(type) {
		case client.Subscribed:
			if first && sc.epoch == "" {
				sc.epoch, sc.start, sc.last = ev.Position.Epoch, ev.Position.Offset, ev.Position.Offset
				sc.seen.Store(sc.last)
			}
			if !first {
				sc.back = true
				sc.checkCaught()
			}
			if subscribed != nil {
				close(subscribed)
				subscribed = nil
			}
		case client.Publication:
			switch {
			case ev.Offset <= sc.last:
				sc.dups++
				continue
			case ev.Offset > sc.last+1:
				sc.lost += int64(ev.Offset - sc.last - 1)
			}
			sc.last = ev.Offset
			sc.seen.Store(sc.last)
			sc.unique++
			sc.checkCaught()
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
	case WS:
		kind = client.WebSocket
	case SSE:
		kind = client.SSE
	case LongPoll:
		kind = client.LongPoll
	case Poll:
		kind = client.ShortPoll
	default:
		return res, fmt.Errorf("storm: unknown transport %q", cfg.Transport)
	}
	node := cfg.Node
	src := &sourceDialer{addrs: cfg.SourceAddrs}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return src.dialer().DialContext(ctx, network, addr)
		},
		MaxIdleConns:        2*cfg.Clients + 64,
		MaxIdleConnsPerHost: 2*cfg.Clients + 64,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	opts := client.Options{
		Transports:      []client.Transport{kind},
		HTTPClient:      &http.Client{Transport: tr},
		OpenTimeout:     60 * time.Second,
		PollInterval:    cfg.PollInterval,
		UpgradeInterval: -1,
		Logger:          slog.New(slog.DiscardHandler),
	}
	channels := channelNames("bench.storm", cfg.Channels)
	clients := make([]*stormClient, cfg.Clients)
	for i := range clients {
		clients[i] = &stormClient{channel: i % cfg.Channels}
	}

	// A life is every client running and consuming; end cancels the
	// clients and waits for the consumers to see the last event.
	type life struct {
		cancel    context.CancelFunc
		runs      sync.WaitGroup
		consumers sync.WaitGroup
		err       atomic.Pointer[error]
	}
	begin := func(first bool) (*life, []chan struct{}, error) {
		l := &life{}
		lctx, cancel := context.WithCancel(ctx)
		l.cancel = cancel
		ready := make([]chan struct{}, len(clients))
		for i, sc := range clients {
			c := client.New(node.URL, opts)
			var so client.SubscribeOptions
			if !first {
				so.Since = &stream.Position{Epoch: sc.epoch, Offset: sc.last}
			}
			sub, err := c.Subscribe(channels[sc.channel], so)
			if err != nil {
				cancel()
				return l, nil, err
			}
			ready[i] = make(chan struct{})
			l.consumers.Add(1)
			go func() {
				defer l.consumers.Done()
				sc.consume(sub, first, ready[i])
			}()
			l.runs.Add(1)
			go func() {
				defer l.runs.Done()
				if err := c.Run(lctx); err != nil {
					l.err.CompareAndSwap(nil, &err)
				}
			}()
		}
		return l, ready, nil
	}
	end := func(l *life) {
		l.cancel()
		l.runs.Wait()
		l.consumers.Wait()
	}
	awaitAll := func(ready []chan struct{}, l *life, progress func()) error {
		for _, r := range ready {
			select {
			case <-r:
			case <-ctx.Done():
				return ctx.Err()
			}
			if e := l.err.Load(); e != nil {
				return *e
			}
			if progress != nil {
				progress()
			}
		}
		return nil
	}

	start := time.Now()
	first, ready, err := begin(true)
	if err == nil {
		err = awaitAll(ready, first, cfg.Progress)
	}
	if err != nil {
		end(first)
		return res, fmt.Errorf("first wave: %w", err)
	}
	res.ConnectTime = time.Since(start)

	// Publish through the whole run, recording each channel's latest.
	latest := make([]atomic.Uint64, cfg.Channels)
	pubs, err := newPublishers(ctx, 4, node, cfg.Transport)
	if err != nil {
		end(first)
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
	// The drop: every client at once.
	end(first)
	// The storm: every client back at once, from where it was.
	t1 := time.Now()
	for _, sc := range clients {
		sc.target = max(latest[sc.channel].Load(), sc.last)
	}
	second, _, err := begin(false)
	if err != nil {
		end(second)
		_ = stop()
		return res, fmt.Errorf("second wave: %w", err)
	}
	defer end(second)
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
	// The consumers own the clients' fields until they end: progress is
	// read through the atomic mirrors.
	caught := waitFor(func(sc *stormClient) bool { return sc.caughtDone() }, 2*time.Minute)
	pause(cfg.After)
	if err := stop(); err != nil {
		return res, err
	}
	res.Publications = s.published.Load()
	waitFor(func(sc *stormClient) bool { return sc.lastSeen() >= latest[sc.channel].Load() }, 30*time.Second)
	end(second)
	if e := second.err.Load(); e != nil {
		return res, fmt.Errorf("second wave: %w", *e)
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
		if !sc.caughtAt.IsZero() {
			_ = h.RecordValue(max(sc.caughtAt.Sub(t1).Microseconds(), 1))
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
		cfg.Transport = WS
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
