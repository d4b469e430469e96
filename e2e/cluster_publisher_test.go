package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// fastBinary builds switchboard without the race detector, once, for the
// load tests: a race build of a node serving a thousand clients and two
// hundred publications a second on a two-core machine spends its time in
// the detector, and the load tests are about what happens between nodes,
// which the race builds of the other tests cover inside one node.
var fastBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(binary), "switchboard-norace")
	return bin, testkit.BuildSwitchboard(bin)
})

func loadBinary(t *testing.T) string {
	t.Helper()
	bin, err := fastBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// publisher publishes numbered publications through the HTTP API of some
// nodes, at a steady rate, and keeps what each node acknowledged: the
// position it gave and the number the publication carries. It publishes as
// a backend should: with an idempotency key, retrying a failed attempt on
// the next node until one acknowledges it, so a publication stored by a
// node that then failed to answer is stored once all the same.
type publisher struct {
	hc *http.Client

	mu    sync.Mutex
	acked map[string]map[uint64]int // channel → offset → number, in the channel's epoch
	epoch map[string]string
	// newEpochs, set before run, accepts acknowledgements in a new epoch,
	// as from a broker that lost its data: the channel's record starts
	// again and what the earlier epochs acknowledged moves to earlier.
	newEpochs bool
	earlier   map[string]map[string]map[uint64]int // channel → epoch → offset → number
	failures  []string                             // publications never acknowledged
	retries   int                                  // attempts that failed and were retried
	retryErr  string                               // the first of them
	wrong     []string                             // acknowledgements that break the offset rules
	latency   time.Duration                        // the sum of every publication's round trip
	began     time.Time                            // when run began
	ended     time.Time                            // when run ended
	made      int                                  // publications run attempted
}

func newPublisher() *publisher {
	return &publisher{
		hc: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		}},
		acked: make(map[string]map[uint64]int),
		epoch: make(map[string]string),
	}
}

// seed publishes number -1 to each channel and returns the positions: the
// clients start after them, so each client owes exactly the publications
// after its channel's seed.
func (p *publisher) seed(t *testing.T, n *node, chans []string) map[string]stream.Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	start := make(map[string]stream.Position, len(chans))
	for _, ch := range chans {
		pos, err := p.publish(ctx, n, ch, -1, "")
		if err != nil {
			t.Fatalf("seed %s: %v", ch, err)
		}
		start[ch] = pos
		p.mu.Lock()
		p.epoch[ch] = pos.Epoch
		p.acked[ch] = make(map[uint64]int)
		p.mu.Unlock()
	}
	return start
}

// publish makes one attempt to publish number num to ch through n's API,
// with key unless it is empty.
func (p *publisher) publish(ctx context.Context, n *node, ch string, num int, key string) (stream.Position, error) {
	msg := map[string]any{"channel": ch, "data": map[string]int{"n": num}}
	if key != "" {
		msg["key"] = key
	}
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL+"/api/publish", bytes.NewReader(body))
	if err != nil {
		return stream.Position{}, err
	}
	req.Header.Set("Authorization", "apikey "+n.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return stream.Position{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return stream.Position{}, fmt.Errorf("%s: %d %s", n.URL, resp.StatusCode, bytes.TrimSpace(b))
	}
	var out published
	if err := json.Unmarshal(b, &out); err != nil {
		return stream.Position{}, err
	}
	return stream.Position{Epoch: out.Epoch, Offset: out.Offset}, nil
}

// run publishes total publications, numbered from 0, at rate per second,
// spread round robin over chans and nodes, and returns when all have been
// answered. progress, when set, is called with the count answered so far
// after each answer, from the publishing goroutines.
func (p *publisher) run(ctx context.Context, nodes []*node, chans []string, total, rate int, progress func(int)) {
	const workers = 64
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for num := range jobs {
				ch := chans[num%len(chans)]
				began := time.Now()
				pos, err := p.deliver(ctx, nodes, num, ch, num)
				took := time.Since(began)
				p.record(ch, num, pos, err)
				p.mu.Lock()
				p.latency += took
				p.mu.Unlock()
				mu.Lock()
				answered++
				a := answered
				mu.Unlock()
				if progress != nil {
					progress(a)
				}
			}
		}()
	}
	p.mu.Lock()
	p.began = time.Now()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.ended = time.Now()
		p.mu.Unlock()
	}()
	// Publication num is due at num/rate seconds from the start: a loop
	// that falls behind (a busy machine) catches up rather than dropping
	// ticks, so the run keeps the rate asked for on average.
	start := time.Now()
	for num := 0; num < total; num++ {
		due := start.Add(time.Duration(num) * time.Second / time.Duration(rate))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- num
		p.mu.Lock()
		p.made++
		p.mu.Unlock()
	}
	close(jobs)
	wg.Wait()
	p.hc.CloseIdleConnections()
}

// deliver publishes num to ch until a node acknowledges it or ctx ends,
// starting with nodes[first] and moving to the next node on each attempt.
func (p *publisher) deliver(ctx context.Context, nodes []*node, first int, ch string, num int) (stream.Position, error) {
	key := fmt.Sprintf("e2e-%d", num)
	wait := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pos, err := p.publish(rctx, nodes[(first+attempt)%len(nodes)], ch, num, key)
		cancel()
		if err == nil || ctx.Err() != nil {
			return pos, err
		}
		p.mu.Lock()
		if p.retries == 0 {
			p.retryErr = err.Error()
		}
		p.retries++
		p.mu.Unlock()
		// A backoff between attempts, as a backend's retry has.
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return pos, ctx.Err()
		}
		wait = min(2*wait, time.Second)
	}
}

func (p *publisher) record(ch string, num int, pos stream.Position, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		p.failures = append(p.failures, fmt.Sprintf("publish %d to %s: %v", num, ch, err))
	case p.newEpochs && pos.Epoch != p.epoch[ch]:
		p.recordEpoch(ch, num, pos)
	case pos.Epoch != p.epoch[ch]:
		p.wrong = append(p.wrong, fmt.Sprintf("publish %d to %s: epoch %s, was %s", num, ch, pos.Epoch, p.epoch[ch]))
	default:
		if old, dup := p.acked[ch][pos.Offset]; dup {
			p.wrong = append(p.wrong, fmt.Sprintf("publish %d to %s: offset %d given to %d already", num, ch, pos.Offset, old))
		}
		p.acked[ch][pos.Offset] = num
	}
}

// recordEpoch records an acknowledgement in another epoch than the
// channel's current one: an earlier epoch's, answered late, or a new one,
// which becomes the channel's current epoch.
func (p *publisher) recordEpoch(ch string, num int, pos stream.Position) {
	if p.earlier == nil {
		p.earlier = make(map[string]map[string]map[uint64]int)
	}
	if p.earlier[ch] == nil {
		p.earlier[ch] = make(map[string]map[uint64]int)
	}
	if old, ok := p.earlier[ch][pos.Epoch]; ok {
		old[pos.Offset] = num
		return
	}
	p.earlier[ch][p.epoch[ch]] = p.acked[ch]
	p.epoch[ch] = pos.Epoch
	p.acked[ch] = map[uint64]int{pos.Offset: num}
}

// latest returns the highest offset acknowledged on each channel.
func (p *publisher) latest() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]uint64, len(p.acked))
	for ch, m := range p.acked {
		for off := range m {
			out[ch] = max(out[ch], off)
		}
	}
	return out
}

// stats describes the run: the rate achieved and the mean round trip.
func (p *publisher) stats() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.ended.Sub(p.began)
	if p.made == 0 || d <= 0 {
		return "nothing published"
	}
	out := fmt.Sprintf("%d publications in %v (%.0f/s), mean time to acknowledgement %v",
		p.made, d.Round(time.Millisecond), float64(p.made)/d.Seconds(), (p.latency / time.Duration(p.made)).Round(time.Microsecond))
	if p.retries > 0 {
		out += fmt.Sprintf(", %d attempts retried (the first: %s)", p.retries, p.retryErr)
	}
	return out
}

// ackedCount returns how many publications were acknowledged.
func (p *publisher) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.acked {
		n += len(m)
	}
	return n
}

// checkHistory reads each channel's history after its start from n's API
// and checks it holds every acknowledged publication with its data: what
// the API acknowledged is in the broker, whatever happened to the clients.
func (p *publisher) checkHistory(t *testing.T, n *node, start map[string]stream.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch, acked := range p.acked {
		q := url.Values{
			"channel": {ch}, "limit": {"1000"},
			"since_epoch": {start[ch].Epoch}, "since_offset": {strconv.FormatUint(start[ch].Offset, 10)},
		}
		var h struct {
			Epoch        string `json:"epoch"`
			Publications []struct {
				Offset uint64 `json:"offset"`
				Data   struct{ N int }
			} `json:"publications"`
		}
		if err := n.api(ctx, http.MethodGet, "/api/history?"+q.Encode(), nil, &h); err != nil {
			t.Fatalf("history of %s: %v", ch, err)
		}
		if h.Epoch != start[ch].Epoch {
			t.Errorf("history of %s is in epoch %s, was %s: the broker lost it", ch, h.Epoch, start[ch].Epoch)
			continue
		}
		have := make(map[uint64]int, len(h.Publications))
		for _, pub := range h.Publications {
			have[pub.Offset] = pub.Data.N
		}
		for off, num := range acked {
			if got, ok := have[off]; !ok || got != num {
				t.Errorf("history of %s at %d: have %d (present %t), the API acknowledged publication %d there", ch, off, got, ok, num)
			}
		}
	}
}
