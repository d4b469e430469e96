package brokertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// Deadlines for polling. They are generous because a broker under -race on a
// loaded machine may be slow; a correct broker never gets near them.
const (
	waitTimeout = 15 * time.Second
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
			c.run(t, startNodes(t, newBroker, 1)[0])
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
	{"InvalidKey", testInvalidKey},
	{"InvalidChannel", testInvalidChannel},
	{"CancelledContext", testCancelledContext},
	{"UnreadableIsAGap", testUnreadableIsAGap},
}

// env is one subtest's broker, running, with what it delivered.
type env struct {
	b   hub.Broker
	rec *Recorder
	// prefix makes this subtest's channel names unique across subtests,
	// processes and runs against the same storage.
	prefix string
}

// startNodes starts n brokers made by newBroker, with one channel prefix.
func startNodes(t *testing.T, newBroker func(t *testing.T) hub.Broker, n int) []*env {
	t.Helper()
	prefix := channelPrefix(t)
	nodes := make([]*env, n)
	for i := range nodes {
		b := newBroker(t)
		// Nothing in the suite loses a channel's data, so an epoch never
		// changes under delivery.
		rec := start(t, b, &Recorder{oneEpoch: true}, returnedOrCancelled)
		nodes[i] = &env{b: b, rec: rec, prefix: prefix}
	}
	return nodes
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
	return "brokertest:" + string(name) + "." + random()
}

// channel returns this subtest's channel called name.
func (e *env) channel(name string) string { return e.prefix + "." + name }

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
		r := Request(ch, fmt.Sprintf(`{"n":%d}`, i+1))
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
	testkit.EventuallyWithin(t, waitTimeout, fmt.Sprintf("%d deliveries on %q", n, ch), func() bool {
		got = e.rec.Get(ch)
		return len(got) >= n
	})
	return got
}

// all asks for every publication that matches.
var all = stream.HistoryQuery{Limit: -1}

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
	checkOffsets(t, what, Offsets(page.Publications), offsets)
	for _, p := range page.Publications {
		if p.Epoch != latest.Epoch {
			t.Errorf("%s: publication %d has epoch %q, want %q", what, p.Offset, p.Epoch, latest.Epoch)
			break
		}
	}
}

// noneOf stands for "no publications" in checkPage.
var noneOf []uint64
