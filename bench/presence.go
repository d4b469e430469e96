package bench

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// PresenceConfig configures the presence scenario: a crowd of WebSocket
// clients joins one channel whose namespace has presence and join/leave
// on, while a canary subscriber of another channel measures how long the
// node takes to deliver meanwhile.
type PresenceConfig struct {
	// Node is the node under test; PID, when set, reads its CPU.
	Node *Node
	// Subscribers is the crowd. Default 15,000.
	Subscribers int
	// Namespace names a namespace with presence and join/leave on. Default
	// "chat" (a node without a config file has it).
	Namespace string
	// Concurrency is how many clients are connecting at once. Default 100.
	Concurrency int
	// ConnectTimeout bounds one client's connect and subscribe; a client
	// over it counts as timed out. Default 10s.
	ConnectTimeout time.Duration
	// CanaryRate is the canary channel's publications per second. Default 20.
	CanaryRate float64
	// PayloadSize is the canary publications' data size. Default 100.
	PayloadSize int
	// SourceAddrs are local addresses to dial from (default: the system's).
	SourceAddrs []string
	// Progress is called after each client is subscribed.
	Progress func()
}

// PresenceResult is what the presence scenario measured.
type PresenceResult struct {
	Subscribers int           `json:"subscribers"`
	Connected   int           `json:"connected"`
	TimedOut    int           `json:"timed_out"`
	Failed      int           `json:"failed"`
	Ended       int64         `json:"ended_connections"` // dropped by the node during the run
	ConnectTime time.Duration `json:"connect_time_ns"`
	// ConnectLatency is one client's connect and subscribe.
	ConnectLatency Latency `json:"connect_latency"`
	// Pushes is what the crowd received besides pings: join pushes.
	Pushes int64 `json:"pushes_received"`
	// Canary is the canary's publish→deliver latency while the crowd
	// joined; CanarySent and CanaryLost count its publications.
	Canary     Latency       `json:"canary_latency"`
	CanarySent int64         `json:"canary_sent"`
	CanaryLost int64         `json:"canary_lost"`
	ServerCPU  time.Duration `json:"server_cpu_ns"`
	FirstError string        `json:"first_error,omitempty"`
}

// Presence runs the crowd in and measures the canary.
func Presence(ctx context.Context, cfg PresenceConfig) (PresenceResult, error) {
	if cfg.Subscribers <= 0 {
		cfg.Subscribers = 15_000
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "chat"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.CanaryRate <= 0 {
		cfg.CanaryRate = 20
	}
	if cfg.PayloadSize < MinPayload {
		cfg.PayloadSize = max(100, MinPayload)
	}
	node := cfg.Node
	res := PresenceResult{Subscribers: cfg.Subscribers}
	names := channelNames("bench.presence", 2)
	crowdChannel, canaryChannel := cfg.Namespace+":"+names[0], names[1]
	src := &sourceDialer{addrs: cfg.SourceAddrs}

	// The canary: one subscriber of a channel without presence, and one
	// publisher at a steady rate.
	canary, err := dialSubscriberWith(ctx, node.URL, node.wsOptions(src.dialer()), canaryChannel)
	if err != nil {
		return res, err
	}
	hist := hdrhistogram.New(1, maxLatencyMicros, 3)
	var histMu sync.Mutex
	var canaryGot atomic.Int64
	canary.done = make(chan struct{})
	canary.onMsg = func(b []byte) {
		if !bytes.HasPrefix(b, messagePrefix) {
			return
		}
		if _, sent, end := scanPublication(b); end >= 0 && sent > 0 {
			us := min(max((time.Now().UnixNano()-sent)/1000, 1), maxLatencyMicros)
			histMu.Lock()
			_ = hist.RecordValue(us)
			histMu.Unlock()
			canaryGot.Add(1)
		}
	}
	go canary.run()
	defer func() { canary.conn.Close(); <-canary.done }()
	pubs, err := newPublishers(ctx, 1, node, WebSocket)
	if err != nil {
		return res, err
	}
	defer closePublishers(pubs)
	pctx, stopPublishing := context.WithCancel(ctx)
	var sent atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.CanaryRate))
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				pubErr <- nil
				return
			case <-t.C:
			}
			if _, err := pubs[0].publish(pctx, canaryChannel, cfg.PayloadSize); err != nil {
				if pctx.Err() != nil {
					err = nil
				}
				pubErr <- err
				return
			}
			sent.Add(1)
		}
	}()

	// The crowd.
	crowd := make([]*wsSubscriber, cfg.Subscribers)
	var readers sync.WaitGroup
	var closing atomic.Bool
	var ended atomic.Int64
	defer func() {
		closing.Store(true)
		closeSubscribers(crowd)
		readers.Wait()
	}()
	var (
		mu        sync.Mutex
		connHist  = hdrhistogram.New(1, maxLatencyMicros, 3)
		timedOut  int
		failed    int
		firstErr  error
		opening   sync.WaitGroup
		semaphore = make(chan struct{}, cfg.Concurrency)
	)
	cpu0, cpuErr := readCPU(node.PID)
	start := time.Now()
	for i := 0; i < cfg.Subscribers && ctx.Err() == nil; i++ {
		select {
		case semaphore <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		opening.Add(1)
		go func() {
			defer opening.Done()
			defer func() { <-semaphore }()
			t0 := time.Now()
			dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			s, err := dialSubscriberWith(dctx, node.URL, node.wsOptions(src.dialer()), crowdChannel)
			timeout := dctx.Err() != nil && ctx.Err() == nil
			cancel()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && timeout:
				timedOut++
			case err != nil:
				failed++
				if firstErr == nil {
					firstErr = err
				}
			default:
				crowd[i] = s
				_ = connHist.RecordValue(min(max(time.Since(t0).Microseconds(), 1), maxLatencyMicros))
				readers.Add(1)
				go func() {
					defer readers.Done()
					s.run()
					if !closing.Load() {
						ended.Add(1)
					}
				}()
				if cfg.Progress != nil {
					cfg.Progress()
				}
			}
		}()
	}
	opening.Wait()
	res.ConnectTime = time.Since(start)
	// A moment for the last joins to be pushed and the canary's last
	// publications to arrive.
	settle := time.NewTimer(time.Second)
	select {
	case <-settle.C:
	case <-ctx.Done():
		settle.Stop()
	}
	stopPublishing()
	perr := <-pubErr
	cpu1, cpuErr1 := readCPU(node.PID)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if perr != nil {
		return res, perr
	}
	if err := drainCanary(ctx, &canaryGot, sent.Load()); err != nil {
		res.CanaryLost = sent.Load() - canaryGot.Load()
	}
	res.TimedOut, res.Failed = timedOut, failed
	res.Connected = cfg.Subscribers - timedOut - failed
	res.Ended = ended.Load()
	res.ConnectLatency = summarize(connHist)
	histMu.Lock()
	res.Canary = summarize(hist)
	histMu.Unlock()
	res.CanarySent = sent.Load()
	for _, s := range crowd {
		if s != nil {
			res.Pushes += s.received.Load()
		}
	}
	if cpuErr == nil && cpuErr1 == nil {
		res.ServerCPU = cpu1 - cpu0
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if res.Connected == 0 {
		return res, errors.Join(errors.New("no client connected"), firstErr)
	}
	return res, nil
}

// drainCanary waits up to 5s for the canary to have received want.
func drainCanary(ctx context.Context, got *atomic.Int64, want int64) error {
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < want {
		if time.Now().After(deadline) {
			return errors.New("canary publications missing")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
