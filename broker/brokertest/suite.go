package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// Deadlines for polling. They are generous because a broker under -race on a
// loaded machine may be slow; a correct broker never gets near them.
const (
	waitTimeout = 15 * time.Second
	pollEvery   = 5 * time.Millisecond
	// clockSkew widens the window that publication times must fall in, for
	// brokers that stamp times on another host's clock.
	clockSkew = time.Second
)

// Run runs the suite against brokers made by newBroker, each subtest with a
// fresh broker whose Run it starts and, at cleanup, stops and waits for.
// newBroker may register its own cleanups on the t it is given.
func Run(t *testing.T, newBroker func(t *testing.T) hub.Broker) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, start(t, newBroker))
		})
	}
}

var cases = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"OffsetsStartAtOne", testOffsetsStartAtOne},
	{"GaplessUnderConcurrency", testGaplessUnderConcurrency},
	{"EpochStable", testEpochStable},
	{"ChannelsIndependent", testChannelsIndependent},
	{"NeverUsedChannel", testNeverUsedChannel},
	{"DeliveryFollowsSubscription", testDeliveryFollowsSubscription},
	{"RoundTrip", testRoundTrip},
	{"ManyChannelsConcurrently", testManyChannelsConcurrently},
	{"HistorySize", testHistorySize},
	{"HistorySizeZero", testHistorySizeZero},
	{"HistoryTTL", testHistoryTTL},
	{"HistoryPaging", testHistoryPaging},
	{"ForeignEpoch", testForeignEpoch},
	{"Recoverable", testRecoverable},
	{"IdempotencyKey", testIdempotencyKey},
	{"IdempotencyKeyPerChannel", testIdempotencyKeyPerChannel},
	{"IdempotencyKeyExpires", testIdempotencyKeyExpires},
	{"InvalidChannel", testInvalidChannel},
	{"CancelledContext", testCancelledContext},
	{"UnreadableIsAGap", testUnreadableIsAGap},
}

// env is one subtest's broker, running, with what it delivered.
type env struct {
	b   hub.Broker
	rec *recorder
	// prefix makes this subtest's channel names unique across subtests,
	// processes and runs against the same storage.
	prefix string
}

func start(t *testing.T, newBroker func(t *testing.T) hub.Broker) *env {
	t.Helper()
	e := &env{b: newBroker(t), rec: newRecorder(), prefix: channelPrefix(t)}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = e.b.Run(ctx, e.rec.deliver)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				t.Errorf("Run returned %v once its context ended, want nil or context.Canceled", runErr)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return within %v of its context ending", waitTimeout)
		}
		e.rec.report(t)
	})
	e.waitRunning(t, stopped, &runErr)
	return e
}

// waitRunning returns once the broker delivers: the interface has no
// readiness signal, and a publication stored before Run is ready may
// legitimately not be delivered.
func (e *env) waitRunning(t *testing.T, stopped <-chan struct{}, runErr *error) {
	t.Helper()
	probe := e.channel("probe")
	e.subscribe(t, probe)
	eventually(t, waitTimeout, "the broker to deliver after Run started", func() bool {
		select {
		case <-stopped:
			t.Fatalf("Run returned before its context ended: %v", *runErr)
		default:
		}
		e.publish(t, req(probe, `"probe"`))
		return len(e.rec.get(probe)) > 0
	})
}

// channelPrefix is built from the test's name, for whoever reads a broker's
// keys, and random bytes, for uniqueness.
func channelPrefix(t *testing.T) string {
	name := []byte(t.Name())
	for i, c := range name {
		if stream.ValidateChannel(string(c)) != nil {
			name[i] = '_'
		}
	}
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "brokertest:" + string(name) + "." + base64.RawURLEncoding.EncodeToString(r[:])
}

// channel returns this subtest's channel called name.
func (e *env) channel(name string) string { return e.prefix + "." + name }

// req is a publish request with history generous enough for any test here,
// and a TTL so that shared storage cleans up after the suite.
func req(ch, data string) stream.PublishRequest {
	return stream.PublishRequest{
		Channel:     ch,
		Data:        json.RawMessage(data),
		HistorySize: 10000,
		HistoryTTL:  time.Hour,
	}
}

func (e *env) publish(t *testing.T, r stream.PublishRequest) stream.PublishResult {
	t.Helper()
	res, err := e.b.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("Publish(%q): %v", r.Channel, err)
	}
	return res
}

// publishN publishes n publications with data {"n":1}, {"n":2}, … and
// returns the offsets they got.
func (e *env) publishN(t *testing.T, ch string, n int, mod func(*stream.PublishRequest)) []uint64 {
	t.Helper()
	offsets := make([]uint64, n)
	for i := range n {
		r := req(ch, fmt.Sprintf(`{"n":%d}`, i+1))
		if mod != nil {
			mod(&r)
		}
		offsets[i] = e.publish(t, r).Offset
	}
	return offsets
}

func (e *env) history(t *testing.T, ch string, q stream.HistoryQuery) stream.HistoryPage {
	t.Helper()
	page, err := e.b.History(context.Background(), ch, q)
	if err != nil {
		t.Fatalf("History(%q, %+v): %v", ch, q, err)
	}
	return page
}

func (e *env) subscribe(t *testing.T, ch string) {
	t.Helper()
	if err := e.b.Subscribe(context.Background(), ch); err != nil {
		t.Fatalf("Subscribe(%q): %v", ch, err)
	}
}

func (e *env) unsubscribe(t *testing.T, ch string) {
	t.Helper()
	if err := e.b.Unsubscribe(context.Background(), ch); err != nil {
		t.Fatalf("Unsubscribe(%q): %v", ch, err)
	}
}

// waitDelivered waits until at least n publications of ch were delivered and
// returns them all.
func (e *env) waitDelivered(t *testing.T, ch string, n int) []*stream.Publication {
	t.Helper()
	var got []*stream.Publication
	eventually(t, waitTimeout, fmt.Sprintf("%d deliveries on %q", n, ch), func() bool {
		got = e.rec.get(ch)
		return len(got) >= n
	})
	return got
}

// all asks for every publication that matches.
var all = stream.HistoryQuery{Limit: -1}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func offsetsOf(pubs []*stream.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

// span returns the offsets from..to, counting down when from > to.
func span(from, to uint64) []uint64 {
	var out []uint64
	for o := from; ; {
		out = append(out, o)
		switch {
		case o == to:
			return out
		case o < to:
			o++
		default:
			o--
		}
	}
}

func checkOffsets(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: offsets (-want +got):\n%s", what, diff)
	}
}

func checkPage(t *testing.T, what string, page stream.HistoryPage, latest stream.Position, earliest uint64, offsets []uint64) {
	t.Helper()
	if page.Latest != latest || page.Earliest != earliest {
		t.Errorf("%s: Latest %+v, Earliest %d; want %+v, %d", what, page.Latest, page.Earliest, latest, earliest)
	}
	checkOffsets(t, what, offsetsOf(page.Publications), offsets)
	for _, p := range page.Publications {
		if p.Epoch != latest.Epoch {
			t.Errorf("%s: publication %d has epoch %q, want %q", what, p.Offset, p.Epoch, latest.Epoch)
			break
		}
	}
}

// noneOf stands for "no publications" in checkPage.
var noneOf []uint64

// recorder is the deliver func the suite gives Run. It keeps every
// publication per channel and checks, as they arrive, the promises every
// broker makes about delivery: one call at a time per channel, offsets
// strictly increasing, one epoch. What it finds is reported at cleanup.
type recorder struct {
	mu       sync.Mutex
	got      map[string][]*stream.Publication
	inFlight map[string]bool
	problems []string
}

// maxProblems caps what one subtest reports: a broken broker breaks the same
// promise thousands of times.
const maxProblems = 20

func newRecorder() *recorder {
	return &recorder{
		got:      make(map[string][]*stream.Publication),
		inFlight: make(map[string]bool),
	}
}

func (r *recorder) deliver(p *stream.Publication) {
	if p == nil {
		r.mu.Lock()
		r.problem("deliver was called with a nil publication")
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	if r.inFlight[p.Channel] {
		r.problem("deliver called for %q offset %d while another delivery of that channel was running", p.Channel, p.Offset)
	}
	r.inFlight[p.Channel] = true
	if prev := r.got[p.Channel]; len(prev) > 0 {
		last := prev[len(prev)-1]
		switch {
		case p.Epoch != last.Epoch:
			r.problem("%q delivered epoch %q after epoch %q", p.Channel, p.Epoch, last.Epoch)
		case p.Offset <= last.Offset:
			r.problem("%q delivered offset %d after offset %d", p.Channel, p.Offset, last.Offset)
		}
	}
	r.got[p.Channel] = append(r.got[p.Channel], p)
	r.mu.Unlock()

	// Give a broker that delivers one channel from two goroutines the chance
	// to be caught with both inside deliver.
	runtime.Gosched()

	r.mu.Lock()
	delete(r.inFlight, p.Channel)
	r.mu.Unlock()
}

// problem records a broken promise; r.mu must be held.
func (r *recorder) problem(format string, args ...any) {
	if len(r.problems) < maxProblems {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// get returns a copy of what was delivered on ch so far.
func (r *recorder) get(ch string) []*stream.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*stream.Publication(nil), r.got[ch]...)
}

func (r *recorder) report(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("delivery: %s", p)
	}
}
