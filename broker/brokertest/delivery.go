package brokertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboardhq/switchboard/stream"
)

// testDeliveryFollowsSubscription checks that only subscribed channels are
// delivered. A broker cannot prove it will never deliver something, so each
// "not delivered" is checked once a later publication on a subscribed marker
// channel has arrived.
func testDeliveryFollowsSubscription(t *testing.T, e *env) {
	ch, marker := e.channel("c"), e.channel("marker")
	e.subscribe(t, marker)

	e.publish(t, Request(ch, `"before subscribe"`))
	e.publish(t, Request(marker, `1`))
	e.waitDelivered(t, marker, 1)
	if got := e.rec.Get(ch); len(got) != 0 {
		t.Fatalf("delivered %d publications of a channel nobody subscribed to", len(got))
	}

	e.subscribe(t, ch)
	e.publish(t, Request(ch, `"subscribed"`))
	got := e.waitDelivered(t, ch, 1)
	checkOffsets(t, "after Subscribe", Offsets(got), []uint64{2})

	e.unsubscribe(t, ch)
	e.publish(t, Request(ch, `"after unsubscribe"`))
	e.publish(t, Request(marker, `2`))
	e.waitDelivered(t, marker, 2)
	checkOffsets(t, "after Unsubscribe", Offsets(e.rec.Get(ch)), []uint64{2})

	// Unsubscribing what is not subscribed is not an error, and subscribing
	// again resumes delivery.
	e.unsubscribe(t, ch)
	e.unsubscribe(t, e.channel("never-subscribed"))
	e.subscribe(t, ch)
	e.subscribe(t, ch)
	e.publish(t, Request(ch, `"again"`))
	checkOffsets(t, "after subscribing again", Offsets(e.waitDelivered(t, ch, 2)), []uint64{2, 4})
}

// roundTripData must come back byte for byte: spacing, escapes and key order
// included. Brokers store data, they do not re-encode it.
var roundTripData = []string{
	`{"text":"hi","n":[1,2.50,-3e2],"z":null,"a":true}`,
	`  "ünïcödé \u2028 \"quoted\" \\ /"  `,
	`{ "b" : 1 , "a" : 2 }`,
	`0`,
	`"` + strings.Repeat("x", 60<<10) + `"`,
}

func testRoundTrip(t *testing.T, e *env) {
	ch := e.channel("c")
	e.subscribe(t, ch)
	info := &stream.ClientInfo{Client: "c-1", User: "u-1", Info: json.RawMessage(`{"role":"admin"}`)}

	before := time.Now().Add(-clockSkew).UnixMilli()
	var want []stream.Publication
	for i, data := range roundTripData {
		r := Request(ch, data)
		if i%2 == 0 {
			r.Key = fmt.Sprintf("key-%d", i)
			r.Info = info
		}
		res := e.publish(t, r)
		want = append(want, stream.Publication{
			Channel: ch, Epoch: res.Epoch, Offset: res.Offset,
			Data: json.RawMessage(data), Key: r.Key, Info: r.Info,
		})
	}
	after := time.Now().Add(clockSkew).UnixMilli()

	check := func(what string, got []*stream.Publication) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d publications, want %d", what, len(got), len(want))
		}
		for i, p := range got {
			w := want[i]
			if !bytes.Equal(p.Data, w.Data) {
				t.Errorf("%s: offset %d data changed:\n got %.80q\nwant %.80q", what, p.Offset, p.Data, w.Data)
			}
			if p.Time < before || p.Time > after {
				t.Errorf("%s: offset %d time %d outside [%d, %d]", what, p.Offset, p.Time, before, after)
			}
			// Data was compared above; cmp would walk it byte by byte.
			got := *p
			got.Data, w.Data, w.Time = nil, nil, p.Time
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("%s: publication %d (-want +got):\n%s", what, i, diff)
			}
		}
	}
	check("history", e.history(t, ch, all).Publications)
	check("delivered", e.waitDelivered(t, ch, len(want)))
}

// testManyChannelsConcurrently runs publishers, history readers and
// subscription changes at once over many channels, for the race detector and
// for the promises that must hold under load: history pages are contiguous
// and agree on the epoch, and channels subscribed throughout get everything.
func testManyChannelsConcurrently(t *testing.T, e *env) {
	const (
		nChannels  = 16
		publishers = 8
		each       = 150
		readers    = 4
	)
	chans := make([]string, nChannels)
	for i := range chans {
		chans[i] = e.channel(fmt.Sprintf("c%d", i))
	}
	// The first half stays subscribed; the second half flips while
	// publications flow, so only ordering can be checked there.
	steady, flipping := chans[:nChannels/2], chans[nChannels/2:]
	for _, ch := range steady {
		e.subscribe(t, ch)
	}

	var done atomic.Bool
	var background, pubs sync.WaitGroup
	ctx := t.Context()
	for p := range publishers {
		pubs.Go(func() {
			for i := range each {
				ch := chans[(p*7+i)%nChannels]
				if _, err := e.b.Publish(ctx, Request(ch, fmt.Sprintf(`[%d,%d]`, p, i))); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	background.Go(func() {
		for i := 0; !done.Load(); i++ {
			ch := flipping[i%len(flipping)]
			var err error
			if i/len(flipping)%2 == 0 {
				err = e.b.Subscribe(ctx, ch)
			} else {
				err = e.b.Unsubscribe(ctx, ch)
			}
			if err != nil {
				t.Errorf("subscription change on %q: %v", ch, err)
				return
			}
		}
	})
	for r := range readers {
		background.Go(func() { readContiguously(t, e, chans, uint64(r), &done) })
	}
	pubs.Wait()
	done.Store(true)
	background.Wait()
	if t.Failed() {
		return
	}

	for _, ch := range steady {
		latest := e.history(t, ch, stream.HistoryQuery{}).Latest
		got := e.waitDelivered(t, ch, int(latest.Offset))
		checkOffsets(t, "delivered on "+ch, Offsets(got), Span(1, latest.Offset))
	}
}

// readContiguously follows channels by paging history forward from the last
// position it saw, as a resuming client does, until done. Every page must
// continue exactly where the previous one ended.
func readContiguously(t *testing.T, e *env, chans []string, seed uint64, done *atomic.Bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	pos := make(map[string]stream.Position)
	for !done.Load() {
		ch := chans[rng.IntN(len(chans))]
		since, seen := pos[ch]
		q := stream.HistoryQuery{Limit: 1 + rng.IntN(10)}
		if seen {
			q.Since = &since
		}
		page, err := e.b.History(t.Context(), ch, q)
		if err != nil {
			t.Errorf("history: %v", err)
			return
		}
		if seen && !page.Recoverable(since) {
			t.Errorf("%q: position %+v no longer recoverable from %+v, Earliest %d", ch, since, page.Latest, page.Earliest)
			return
		}
		next := since.Offset + 1
		if !seen {
			next = page.Earliest
		}
		for _, p := range page.Publications {
			if p.Offset != next || p.Epoch != page.Latest.Epoch || p.Offset > page.Latest.Offset {
				t.Errorf("%q: page after %+v holds offset %d epoch %q, want offset %d epoch %q (Latest %+v)",
					ch, since, p.Offset, p.Epoch, next, page.Latest.Epoch, page.Latest)
				return
			}
			next++
		}
		pos[ch] = stream.Position{Epoch: page.Latest.Epoch, Offset: next - 1}
	}
}
