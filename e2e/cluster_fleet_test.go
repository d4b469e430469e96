package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

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
var fleetTransports = []client.Transport{client.WebSocket, client.SSE, client.LongPoll, client.ShortPoll, client.GRPC}

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
			// Short polls every second: the default two seconds would
			// only make the tests longer, and more often would spend
			// the test process's CPU, shared by a thousand clients.
			PollInterval: time.Second,
			Logger:       quiet,
			OnState:      r.onState,
		}
		if opt != nil {
			opt(&opts)
		}
		c, err := client.New(base, opts)
		if err != nil {
			t.Fatal(err)
		}
		r.c = c
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
	waitCondition(t, eventWait+10*time.Second, func() bool {
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
	f.waitNoneBehind(t, d, behind)
}

// waitNoneBehind waits until behind lists no client, and otherwise fails
// naming the first few of those it lists.
func (f *fleet) waitNoneBehind(t *testing.T, d time.Duration, behind func() []*recorder) {
	t.Helper()
	waitCondition(t, d, func() bool { return len(behind()) == 0 }, func() string {
		b := behind()
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d of %d clients have not received everything acknowledged", len(b), len(f.subs))
		for i, r := range b {
			if i == 5 {
				sb.WriteString("\n  ...")
				break
			}
			fmt.Fprintf(&sb, "\n  %s on %s at %v, state %v, problems %v", r.tr, r.sub.Channel(), r.last(), r.c.State(), r.problemList())
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
