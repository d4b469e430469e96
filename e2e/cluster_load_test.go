package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

// fastBinary builds switchboard without the race detector, once, for the
// load tests: a race build of a node serving a thousand clients and two
// hundred publications a second on a two-core machine spends its time in
// the detector, and the load tests are about what happens between nodes,
// which the race builds of the other tests cover inside one node.
var fastBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(binary), "switchboard-norace")
	build := exec.Command("go", "build", "-o", bin, "../cmd/switchboard")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build without -race: %v\n%s", err, out.Bytes())
	}
	return bin, nil
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

	mu       sync.Mutex
	acked    map[string]map[uint64]int // channel → offset → number
	epoch    map[string]string
	failures []string      // publications never acknowledged
	retries  int           // attempts that failed and were retried
	retryErr string        // the first of them
	wrong    []string      // acknowledgements that break the offset rules
	latency  time.Duration // the sum of every publication's round trip
	began    time.Time     // when run began
	ended    time.Time     // when run ended
	made     int           // publications run attempted
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
	p.began = time.Now()
	defer func() { p.ended = time.Now() }()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for num := 0; num < total; num++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- num
		p.made++
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
	case pos.Epoch != p.epoch[ch]:
		p.wrong = append(p.wrong, fmt.Sprintf("publish %d to %s: epoch %s, was %s", num, ch, pos.Epoch, p.epoch[ch]))
	default:
		if old, dup := p.acked[ch][pos.Offset]; dup {
			p.wrong = append(p.wrong, fmt.Sprintf("publish %d to %s: offset %d given to %d already", num, ch, pos.Offset, old))
		}
		p.acked[ch][pos.Offset] = num
	}
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

// fleet is many Go clients, each with one transport and one subscription,
// all connected through the balancer. Every client records what it
// receives and when its connection state changes.
type fleet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*recorder
}

// recorder is one client and its one subscription's record.
type recorder struct {
	tr    client.Transport
	c     *client.Client
	sub   *client.Subscription
	start stream.Position

	mu       sync.Mutex
	got      []received
	problems []string
	states   []stateAt
}

type received struct {
	pos stream.Position
	num int
}

type stateAt struct {
	at time.Time
	s  client.State
}

// fleetTransports are the transports of a fleet's clients, in turn.
var fleetTransports = []client.Transport{client.WebSocket, client.SSE, client.LongPoll, client.ShortPoll}

// startFleet starts n clients through base, each on the transport of
// transports in turn and subscribed to one of chans from its start
// position, and waits until every client is connected and subscribed.
func startFleet(t *testing.T, base string, n int, transports []client.Transport, chans []string, start map[string]stream.Position) *fleet {
	t.Helper()
	return startFleetOptions(t, base, n, transports, chans, start, nil)
}

// startFleetOptions is startFleet with the clients' options changed by opt.
func startFleetOptions(t *testing.T, base string, n int, transports []client.Transport, chans []string, start map[string]stream.Position, opt func(*client.Options)) *fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{cancel: cancel}
	quiet := slog.New(slog.DiscardHandler)
	for i := range n {
		r := &recorder{tr: transports[i%len(transports)]}
		// Consecutive clients share a channel, so every channel has
		// subscribers on every transport.
		ch := chans[(i/len(transports))%len(chans)]
		r.start = start[ch]
		opts := client.Options{
			Transports: []client.Transport{r.tr},
			MinBackoff: 100 * time.Millisecond,
			MaxBackoff: time.Second,
			// Short polls every half second keep the test short; the
			// default two seconds would only make it longer.
			PollInterval: 500 * time.Millisecond,
			Logger:       quiet,
			OnState:      r.onState,
		}
		if opt != nil {
			opt(&opts)
		}
		r.c = client.New(base, opts)
		since := r.start
		sub, err := r.c.Subscribe(ch, client.SubscribeOptions{Since: &since})
		if err != nil {
			t.Fatal(err)
		}
		r.sub = sub
		f.subs = append(f.subs, r)
		f.wg.Add(2)
		go func() {
			defer f.wg.Done()
			if err := r.c.Run(ctx); err != nil {
				r.problem("Run: %v", err)
			}
		}()
		go func() {
			defer f.wg.Done()
			r.read(ctx)
		}()
	}
	t.Cleanup(f.stop)
	waitFor(t, eventWait+10*time.Second, func() bool {
		for _, r := range f.subs {
			if _, ok := r.sub.Position(); !ok || r.c.State().Status != client.Connected {
				return false
			}
		}
		return true
	}, func() string { return "not every client connected and subscribed: " + f.summary() })
	return f
}

// stop ends every client and waits for their goroutines.
func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
}

func (r *recorder) onState(s client.State) {
	r.mu.Lock()
	r.states = append(r.states, stateAt{at: time.Now(), s: s})
	r.mu.Unlock()
}

func (r *recorder) problem(format string, args ...any) {
	r.mu.Lock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// read records the subscription's events until ctx ends. Anything but a
// publication that follows the previous one, a recovered subscribe answer
// or a passing error is a problem.
func (r *recorder) read(ctx context.Context) {
	want := r.start
	for {
		ev, err := r.sub.Next(ctx)
		if err != nil {
			return
		}
		switch ev := ev.(type) {
		case client.Publication:
			var d struct{ N int }
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				r.problem("publication %d carries %s: %v", ev.Offset, ev.Data, err)
			}
			if ev.Epoch != want.Epoch || ev.Offset != want.Offset+1 {
				r.problem("got %s/%d after %s/%d: a gap, a duplicate or a reorder", ev.Epoch, ev.Offset, want.Epoch, want.Offset)
			}
			want = ev.Position()
			r.mu.Lock()
			r.got = append(r.got, received{pos: want, num: d.N})
			r.mu.Unlock()
		case client.Subscribed:
			if !ev.Recovered {
				r.problem("subscribed with recovered=false at %s/%d", ev.Position.Epoch, ev.Position.Offset)
			}
		case client.Gap:
			r.problem("gap from %s/%d to %s/%d", ev.From.Epoch, ev.From.Offset, ev.To.Epoch, ev.To.Offset)
		case client.Error:
			// A subscribe refused for a reason that passes (a node
			// shutting down, Redis away for a moment): the client tries
			// again, and the offsets will tell whether it recovered.
		case client.Unsubscribed:
			if ctx.Err() == nil {
				r.problem("unsubscribed: %v", ev.Err)
			}
			return
		}
	}
}

// last returns the position of the last publication received, or the start.
func (r *recorder) last() stream.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return r.start
	}
	return r.got[len(r.got)-1].pos
}

// statesSince returns the state changes at or after t.
func (r *recorder) statesSince(t time.Time) []stateAt {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []stateAt
	for _, s := range r.states {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// waitCaughtUp waits until every client has received its channel's latest
// acknowledged publication.
func (f *fleet) waitCaughtUp(t *testing.T, p *publisher, d time.Duration) {
	t.Helper()
	latest := p.latest()
	behind := func() []*recorder {
		var out []*recorder
		for _, r := range f.subs {
			if r.last().Offset < latest[r.sub.Channel()] {
				out = append(out, r)
			}
		}
		return out
	}
	waitFor(t, d, func() bool { return len(behind()) == 0 }, func() string {
		b := behind()
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d of %d clients have not received everything acknowledged", len(b), len(f.subs))
		for i, r := range b {
			if i == 5 {
				sb.WriteString("\n  ...")
				break
			}
			fmt.Fprintf(&sb, "\n  %s on %s at %d of %d, state %v, problems %v",
				r.tr, r.sub.Channel(), r.last().Offset, latest[r.sub.Channel()], r.c.State(), r.problemList())
		}
		return sb.String()
	})
}

func (r *recorder) problemList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}

// check verifies that every client received every publication its channel
// acknowledged after its start, exactly once, in order, with the data the
// API was given — and nothing it reported as a problem.
func (f *fleet) check(t *testing.T, p *publisher) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.wrong {
		if i == 5 {
			t.Errorf("... %d acknowledgements broke the offset rules", len(p.wrong))
			break
		}
		t.Errorf("the API acknowledged a publication wrongly: %s", w)
	}
	bad := 0
	for _, r := range f.subs {
		ch := r.sub.Channel()
		acked := p.acked[ch]
		r.mu.Lock()
		problems := append([]string(nil), r.problems...)
		got := make(map[uint64]received, len(r.got))
		nums := make(map[int]uint64, len(r.got))
		for i, g := range r.got {
			if off, again := nums[g.num]; again {
				problems = append(problems, fmt.Sprintf("publication %d stored twice, at offsets %d and %d: a retry was not deduplicated", g.num, off, g.pos.Offset))
			}
			nums[g.num] = g.pos.Offset
			if _, dup := got[g.pos.Offset]; dup {
				problems = append(problems, fmt.Sprintf("offset %d received twice", g.pos.Offset))
			}
			if want := r.start.Offset + 1 + uint64(i); g.pos.Offset != want {
				problems = append(problems, fmt.Sprintf("publication %d has offset %d, want %d", i, g.pos.Offset, want))
			}
			got[g.pos.Offset] = g
		}
		r.mu.Unlock()
		for off, num := range acked {
			g, ok := got[off]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("acknowledged offset %d (publication %d) never received", off, num))
			case g.num != num:
				problems = append(problems, fmt.Sprintf("offset %d carries publication %d, the API acknowledged it for %d", off, g.num, num))
			}
		}
		if len(problems) > 0 {
			bad++
			if bad <= 5 {
				if len(problems) > 5 {
					problems = append(problems[:5], "...")
				}
				t.Errorf("%s client on %s: %s", r.tr, ch, strings.Join(problems, "; "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d clients did not receive every acknowledged publication exactly once, in order", bad, len(f.subs))
	}
}

// summary counts the fleet's clients by transport and state.
func (f *fleet) summary() string {
	counts := make(map[string]int)
	for _, r := range f.subs {
		_, ok := r.sub.Position()
		counts[fmt.Sprintf("%s %v subscribed=%t", r.tr, r.c.State().Status, ok)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// reconnects counts, per transport, the clients that lost their connection
// at or after t, and returns those clients.
func (f *fleet) reconnects(t time.Time) (map[client.Transport]int, []*recorder) {
	counts := make(map[client.Transport]int)
	var moved []*recorder
	for _, r := range f.subs {
		for _, s := range r.statesSince(t) {
			if s.s.Status == client.Disconnected {
				counts[r.tr]++
				moved = append(moved, r)
				break
			}
		}
	}
	return counts, moved
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
