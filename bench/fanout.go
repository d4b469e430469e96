package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// LoadConfig configures the broadcast and channels scenarios: subscribers
// spread over channels, publications through the node's HTTP API.
type LoadConfig struct {
	// Node is the node under test (Start, or a --target with URL, APIKey
	// and PID), or the floor server (StartFloor) with Transport Floor or
	// FloorLongPoll. The
	// server's CPU is read from /proc when PID is set.
	Node *Node
	// Transport is WebSocket, SSE, LongPoll, Poll, GRPC, Floor or
	// FloorLongPoll. Default WebSocket.
	Transport string
	// Subscribers is how many connections subscribe. Default 10,000.
	Subscribers int
	// Channels spreads the subscribers over this many channels, round
	// robin; publications go to each in turn. Default 1 (broadcast).
	Channels int
	// Rate is publications per second; 0 publishes flat out, keeping at
	// most Window publications' deliveries outstanding.
	Rate float64
	// Window is how many publications may be in flight when flat out.
	// Default 4.
	Window int
	// Publishers is how many publish requests may be in flight at once.
	// Default: Window when flat out, 16 at a fixed rate.
	Publishers int
	// Duration bounds the measured publishing. Default 10s.
	Duration time.Duration
	// Messages, when positive, stops publishing after this many.
	Messages int
	// PayloadSize is the size of each publication's data. Default 100,
	// at least MinPayload.
	PayloadSize int
	// PollInterval is the pause between short polls. Default 1s.
	PollInterval time.Duration
	// SourceAddrs are local addresses to dial from (default: the system's).
	SourceAddrs []string
	// Progress is called after each subscriber is connected.
	Progress func()
}

// LoadResult is what one broadcast or channels run measured. Deliveries,
// CPU and latency cover the measured window only: from the first measured
// publication until every delivery arrived (or none came for a while).
type LoadResult struct {
	Scenario    string  `json:"scenario"`
	Transport   string  `json:"transport"`
	Subscribers int     `json:"subscribers"`
	Channels    int     `json:"channels"`
	PayloadSize int     `json:"payload_bytes"`
	Rate        float64 `json:"target_rate"` // publications/s asked for; 0: flat out

	Publications int64 `json:"publications"`
	Expected     int64 `json:"expected_deliveries"`
	Delivered    int64 `json:"delivered"`
	Lost         int64 `json:"lost"`
	Duplicates   int64 `json:"duplicates"`
	Ended        int64 `json:"ended_connections"` // dropped by the node during the run
	// EndedBy is why the first of them ended, where the reader can tell
	// (gRPC: "disconnect <code> <reason>", the status, or the stream's
	// error).
	EndedBy     string        `json:"ended_by,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	ConnectTime time.Duration `json:"connect_time_ns"`

	// PublicationsPerSec is over the publishing only; DeliveriesPerSec
	// over the whole window, until the last delivery.
	PublicationsPerSec float64 `json:"publications_per_sec"`
	DeliveriesPerSec   float64 `json:"deliveries_per_sec"`
	// ServerCPU is the node's user+system CPU time over the window, and
	// CPUPerDelivery that divided by the deliveries (0 without a PID).
	ServerCPU      time.Duration `json:"server_cpu_ns"`
	CPUPerDelivery time.Duration `json:"cpu_per_delivery_ns"`
	// ServerBusy and ClientBusy are the CPU time the node and the load
	// generator used over the window, in cores: a load generator near 1.0
	// on its one core is the bottleneck, and the node's figures then
	// describe a node waiting for its readers.
	ServerBusy float64 `json:"server_busy_cores"`
	ClientBusy float64 `json:"client_busy_cores"`
	Latency    Latency `json:"latency"`
}

// Load runs a broadcast (one channel) or channels (many) scenario.
func Load(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	cfg = cfg.withDefaults()
	res := LoadResult{
		Scenario: "broadcast", Transport: cfg.Transport, Subscribers: cfg.Subscribers,
		Channels: cfg.Channels, PayloadSize: cfg.PayloadSize, Rate: cfg.Rate,
	}
	if cfg.Channels > 1 {
		res.Scenario = "channels"
	}
	if cfg.PayloadSize < MinPayload {
		return res, fmt.Errorf("payload size %d is under the minimum of %d", cfg.PayloadSize, MinPayload)
	}
	if cfg.Subscribers < cfg.Channels {
		return res, fmt.Errorf("%d subscribers cannot cover %d channels", cfg.Subscribers, cfg.Channels)
	}
	node := cfg.Node
	src := &sourceDialer{addrs: cfg.SourceAddrs}
	fl := newFleet(ctx, cfg.Transport, node.URL, node.Addr, src, cfg.Subscribers, cfg.PollInterval)
	defer fl.close()

	channels := channelNames("bench."+res.Scenario, cfg.Channels)
	perChan := make([]int64, cfg.Channels)
	for i := range cfg.Subscribers {
		perChan[i%cfg.Channels]++
	}
	start := time.Now()
	err := openAll(ctx, cfg.Subscribers, func(ctx context.Context, i int) error {
		return fl.open(ctx, i, channels[i%cfg.Channels])
	}, cfg.Progress)
	if err != nil {
		return res, err
	}
	res.ConnectTime = time.Since(start)

	pubs, err := newPublishers(ctx, cfg.Publishers, node, cfg.Transport)
	if err != nil {
		return res, err
	}
	defer closePublishers(pubs)

	// Warm up: one publication per channel, all delivered, so every
	// subscriber is live (and every poll has its cursor) before measuring.
	warm := &schedule{sink: fl.sink, channels: channels, perChan: perChan, window: 1 << 62,
		start: time.Now(), end: time.Now().Add(time.Hour), limit: int64(cfg.Channels)}
	if err := publishAll(ctx, warm, pubs, cfg.PayloadSize); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	drain(ctx, fl.sink, warm.expected.Load(), 30*time.Second)
	if d, e := fl.sink.delivered.Load(), warm.expected.Load(); d < e {
		return res, fmt.Errorf("warm-up: %d of %d deliveries arrived", d, e)
	}

	base := fl.sink.delivered.Load()
	dup0 := fl.sink.duplicates.Load()
	fl.sink.recording.Store(true)
	cpu0, _ := readCPU(node.PID)
	self0, _ := ReadCPU(os.Getpid())
	t0 := time.Now()
	s := &schedule{sink: fl.sink, channels: channels, perChan: perChan, rate: cfg.Rate,
		window: int64(cfg.Window) * maxOf(perChan), start: t0, end: t0.Add(cfg.Duration), limit: int64(cfg.Messages)}
	s.expected.Store(base)
	err = publishAll(ctx, s, pubs, cfg.PayloadSize)
	publishing := time.Since(t0)
	drain(ctx, fl.sink, s.expected.Load(), 5*time.Second)
	elapsed := time.Since(t0)
	cpu1, cpuErr := readCPU(node.PID)
	self1, selfErr := ReadCPU(os.Getpid())
	fl.sink.recording.Store(false)
	if err != nil {
		return res, err
	}

	res.Publications = s.published.Load()
	res.Expected = s.expected.Load() - base
	res.Delivered = fl.sink.delivered.Load() - base
	res.Lost = max(res.Expected-res.Delivered, 0)
	res.Duplicates = fl.sink.duplicates.Load() - dup0
	res.Ended = fl.ended.Load()
	if by := fl.endedBy.Load(); by != nil {
		res.EndedBy = *by
	}
	res.Elapsed = elapsed
	res.PublicationsPerSec = float64(res.Publications) / publishing.Seconds()
	res.DeliveriesPerSec = float64(res.Delivered) / elapsed.Seconds()
	if node.PID > 0 && cpuErr == nil {
		res.ServerCPU = cpu1 - cpu0
		res.ServerBusy = res.ServerCPU.Seconds() / elapsed.Seconds()
		if res.Delivered > 0 {
			res.CPUPerDelivery = res.ServerCPU / time.Duration(res.Delivered)
		}
	}
	if selfErr == nil && node.PID != os.Getpid() {
		res.ClientBusy = (self1 - self0).Seconds() / elapsed.Seconds()
	}
	res.Latency = summarize(fl.sink.histogram())
	return res, nil
}

func (cfg LoadConfig) withDefaults() LoadConfig {
	if cfg.Transport == "" {
		cfg.Transport = WebSocket
	}
	if cfg.Subscribers <= 0 {
		cfg.Subscribers = 10_000
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 1
	}
	if cfg.Window <= 0 {
		cfg.Window = 4
	}
	if cfg.Publishers <= 0 {
		cfg.Publishers = min(cfg.Window, 16)
		if cfg.Rate > 0 {
			cfg.Publishers = 16
		}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.PayloadSize <= 0 {
		cfg.PayloadSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	return cfg
}

// publishAll runs the publishers until the schedule is over.
func publishAll(ctx context.Context, s *schedule, pubs []publisher, size int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ch, ok, err := s.take(ctx)
				if err != nil {
					cancel(err)
					return
				}
				if !ok {
					return
				}
				pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
				off, err := p.publish(pctx, s.channels[ch], size)
				pcancel()
				if err != nil {
					cancel(fmt.Errorf("publish to %s: %w", s.channels[ch], err))
					return
				}
				s.published.Add(1)
				if s.onPublished != nil {
					s.onPublished(ch, off)
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func maxOf(v []int64) int64 {
	m := int64(1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// channelNames returns n channel names unique to this run, so runs against
// one --target node do not see each other's history.
func channelNames(prefix string, n int) []string {
	var id [4]byte
	_, _ = rand.Read(id[:])
	run := prefix + "." + hex.EncodeToString(id[:]) + "."
	names := make([]string, n)
	for i := range names {
		names[i] = run + strconv.Itoa(i)
	}
	return names
}

// readCPU reads a process's CPU time, or nothing without a PID.
func readCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no PID")
	}
	return ReadCPU(pid)
}
