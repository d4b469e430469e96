package brokertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

func testHistorySize(t *testing.T, e *env) {
	ch := e.channel("c")
	offsets := e.publishN(t, ch, 5, func(r *stream.PublishRequest) { r.HistorySize = 3 })
	checkOffsets(t, "publish", offsets, Span(1, 5))
	page := e.history(t, ch, all)
	latest := stream.Position{Epoch: page.Latest.Epoch, Offset: 5}
	checkPage(t, "history", page, latest, 3, Span(3, 5))
	for _, p := range page.Publications {
		if want := fmt.Sprintf(`{"n":%d}`, p.Offset); string(p.Data) != want {
			t.Errorf("offset %d holds %s, want %s", p.Offset, p.Data, want)
		}
	}
	checkPage(t, "reverse", e.history(t, ch, stream.HistoryQuery{Limit: -1, Reverse: true}), latest, 3, Span(5, 3))
}

func testHistorySizeZero(t *testing.T, e *env) {
	ch := e.channel("c")
	e.subscribe(t, ch)
	offsets := e.publishN(t, ch, 3, func(r *stream.PublishRequest) { r.HistorySize = 0 })
	checkOffsets(t, "publish", offsets, Span(1, 3))
	page := e.history(t, ch, all)
	checkPage(t, "history", page, stream.Position{Epoch: page.Latest.Epoch, Offset: 3}, 4, noneOf)
	// Keeping no history changes nothing about live delivery.
	checkOffsets(t, "delivered", Offsets(e.waitDelivered(t, ch, 3)), Span(1, 3))
}

// historyTTL is long enough that a publication is certainly still there when
// read right after publishing, even on a slow machine.
const historyTTL = 2 * time.Second

func testHistoryTTL(t *testing.T, e *env) {
	ch := e.channel("c")
	ttl := func(r *stream.PublishRequest) { r.HistoryTTL = historyTTL }
	e.publishN(t, ch, 2, ttl)
	page := e.history(t, ch, all)
	latest := stream.Position{Epoch: page.Latest.Epoch, Offset: 2}
	checkPage(t, "right after publishing", page, latest, 1, Span(1, 2))

	testkit.EventuallyWithin(t, historyTTL+waitTimeout, "history to expire", func() bool {
		page = e.history(t, ch, all)
		return len(page.Publications) == 0
	})
	checkPage(t, "once expired", page, latest, 3, noneOf)
	if page.Recoverable(stream.Position{Epoch: latest.Epoch, Offset: 0}) {
		t.Errorf("offset 0 still recoverable after its publications expired")
	}

	res := e.publish(t, Request(ch, `"fresh"`))
	if res.Position != (stream.Position{Epoch: latest.Epoch, Offset: 3}) {
		t.Fatalf("publish after expiry: %+v, want offset 3 in epoch %q", res.Position, latest.Epoch)
	}
	checkPage(t, "after publishing again", e.history(t, ch, all), res.Position, 3, []uint64{3})
}

func testHistoryPaging(t *testing.T, e *env) {
	const total = 25
	ch := e.channel("c")
	e.publishN(t, ch, total, nil)
	latest := e.history(t, ch, stream.HistoryQuery{}).Latest
	if latest.Offset != total {
		t.Fatalf("Latest %+v after %d publishes", latest, total)
	}
	at := func(o uint64) *stream.Position { return &stream.Position{Epoch: latest.Epoch, Offset: o} }

	// Walking forward from offset 0 a page at a time sees everything once.
	var walked []uint64
	since := at(0)
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatalf("walk did not end after %d pages", pages)
		}
		page := e.history(t, ch, stream.HistoryQuery{Since: since, Limit: 7})
		if len(page.Publications) == 0 {
			break
		}
		walked = append(walked, Offsets(page.Publications)...)
		since = at(page.Publications[len(page.Publications)-1].Offset)
	}
	checkOffsets(t, "forward walk", walked, Span(1, total))

	for _, c := range []struct {
		what string
		q    stream.HistoryQuery
		want []uint64
	}{
		{"no Since", stream.HistoryQuery{Limit: 7}, Span(1, 7)},
		{"Limit 0", stream.HistoryQuery{}, noneOf},
		{"Limit 0 with Since", stream.HistoryQuery{Since: at(3)}, noneOf},
		{"Limit -1", all, Span(1, total)},
		{"Limit beyond history", stream.HistoryQuery{Limit: 1000}, Span(1, total)},
		{"Since, Limit -1", stream.HistoryQuery{Since: at(20), Limit: -1}, Span(21, total)},
		{"Reverse", stream.HistoryQuery{Limit: 5, Reverse: true}, Span(total, total-4)},
		{"Reverse, Limit -1", stream.HistoryQuery{Limit: -1, Reverse: true}, Span(total, 1)},
		{"Reverse, Limit 0", stream.HistoryQuery{Reverse: true}, noneOf},
		{"Reverse with Since", stream.HistoryQuery{Since: at(10), Limit: 5, Reverse: true}, Span(total, total-4)},
		{"Reverse with Since near the end", stream.HistoryQuery{Since: at(22), Limit: 5, Reverse: true}, Span(total, 23)},
		{"Reverse with Since, Limit -1", stream.HistoryQuery{Since: at(20), Limit: -1, Reverse: true}, Span(total, 21)},
		{"Since Latest", stream.HistoryQuery{Since: at(total), Limit: -1}, noneOf},
	} {
		checkPage(t, c.what, e.history(t, ch, c.q), latest, 1, c.want)
	}

	// Callers may keep and change what History returns.
	page := e.history(t, ch, stream.HistoryQuery{Limit: 3})
	page.Publications[0] = nil
	clear(page.Publications[1:])
	checkPage(t, "after the caller cleared an earlier page", e.history(t, ch, stream.HistoryQuery{Limit: 3}), latest, 1, Span(1, 3))
}

func testForeignEpoch(t *testing.T, e *env) {
	ch := e.channel("c")
	e.publishN(t, ch, 3, nil)
	latest := e.history(t, ch, stream.HistoryQuery{}).Latest
	for _, epoch := range []string{"x" + latest.Epoch, ""} {
		since := stream.Position{Epoch: epoch, Offset: 1}
		page := e.history(t, ch, stream.HistoryQuery{Since: &since, Limit: -1})
		checkPage(t, fmt.Sprintf("since epoch %q", epoch), page, latest, 1, noneOf)
		if page.Recoverable(since) {
			t.Errorf("position %+v in another epoch is recoverable", since)
		}
	}
}

// testRecoverable checks the edges of history that decide whether a
// reconnecting client is told recovered: true or false.
func testRecoverable(t *testing.T, e *env) {
	ch := e.channel("c")
	e.publishN(t, ch, 10, func(r *stream.PublishRequest) { r.HistorySize = 5 })
	latest := e.history(t, ch, stream.HistoryQuery{}).Latest // offsets 6..10 kept
	for _, c := range []struct {
		since       uint64
		recoverable bool
		want        []uint64
	}{
		{10, true, noneOf},     // up to date
		{8, true, Span(9, 10)}, // inside history
		{5, true, Span(6, 10)}, // just before the oldest kept: nothing missed
		{4, false, Span(6, 10)},
		{0, false, Span(6, 10)},
		{11, false, noneOf}, // ahead of the channel
		{1 << 62, false, noneOf},
		{^uint64(0), false, noneOf},
	} {
		since := stream.Position{Epoch: latest.Epoch, Offset: c.since}
		page := e.history(t, ch, stream.HistoryQuery{Since: &since, Limit: -1})
		what := fmt.Sprintf("since %d", c.since)
		checkPage(t, what, page, latest, 6, c.want)
		if got := page.Recoverable(since); got != c.recoverable {
			t.Errorf("%s: Recoverable %v, want %v", what, got, c.recoverable)
		}
	}
}
