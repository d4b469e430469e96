package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// dataEncoder encodes a publication as its data, so queued bytes grow with
// the publication's size as on a real transport.
type dataEncoder struct{}

func (dataEncoder) Publication(p *stream.Publication) []byte         { return []byte(p.Data) }
func (dataEncoder) Ping() []byte                                     { return nil }
func (dataEncoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }
func (dataEncoder) Gap(*hub.Gap) []byte                              { return []byte("gap") }
func (dataEncoder) Unsubscribed(string, error) []byte                { return []byte("unsubscribed") }

// budgetHub runs a hub whose namespace keeps n publications of about size
// bytes each on channel "big", publishes them and returns the position
// before the first one.
func budgetHub(t *testing.T, cfg hub.Config, n, size int) (*hub.Hub, stream.Position) {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{HistorySize: 10 * n}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Namespaces = ns
	h := transporttest.RunHub(t, cfg)
	publishBig(t, h, n, size)
	page, err := h.History(context.Background(), "big", stream.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return h, stream.Position{Epoch: page.Latest.Epoch, Offset: page.Latest.Offset - uint64(n)}
}

func publishBig(t *testing.T, h *hub.Hub, n, size int) {
	t.Helper()
	data := []byte(`"` + strings.Repeat("x", size-2) + `"`)
	for range n {
		if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: "big", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

func queuedBytes(items []hub.Item) int {
	n := 0
	for _, it := range items {
		n += len(it.Bytes)
	}
	return n
}

// TestSendCountsAgainstQueueLimit: replies, pongs and error frames a client
// provokes and never reads end the session as slow instead of growing its
// queue.
func TestSendCountsAgainstQueueLimit(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{QueueLimit: 1000})
	s := newSession(t, h, &testEncoder{})
	reply := []byte(strings.Repeat("r", 100))
	sent := 0
	for range 100 {
		if !s.Send(reply) {
			break
		}
		sent++
	}
	if sent > 10 {
		t.Errorf("%d replies of 100 bytes queued under a 1000-byte limit", sent)
	}
	if err := waitDone(t, s); !errors.Is(err, stream.ErrSlowConsumer) {
		t.Errorf("session ended with %v, want %v", err, stream.ErrSlowConsumer)
	}
	if q := queuedBytes(s.Take(nil)); q > 1000 {
		t.Errorf("%d bytes queued, limit 1000", q)
	}
}

// TestReplayWaitsForWriter resumes a subscriber from far behind on a channel
// of large publications while live publications keep coming: the replay is
// queued in steps that never take the queue over its limit, and the
// subscriber gets every offset once, in order.
func TestReplayWaitsForWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			limit = 8 << 10
			n     = 200
			size  = 500
		)
		h, since := budgetHub(t, hub.Config{QueueLimit: limit, MaxMessageSize: 1 << 10}, n, size)
		s := newSession(t, h, dataEncoder{})
		res, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Recovered || res.Replayed != n {
			t.Fatalf("subscribe: %+v, want recovered with %d to replay", res, n)
		}
		want := since.Offset + 1
		live := 0
		for round := 0; want <= since.Offset+n+10; round++ {
			synctest.Wait() // the replay queued what it may
			items := s.Take(nil)
			if q := queuedBytes(items); q > limit {
				t.Fatalf("round %d: %d bytes queued, limit %d", round, q, limit)
			}
			if len(items) == 0 {
				t.Fatalf("round %d: nothing queued, offset %d still to come", round, want)
			}
			for _, it := range items {
				if it.Pub.Offset != want {
					t.Fatalf("round %d: offset %d, want %d", round, it.Pub.Offset, want)
				}
				want++
			}
			if live < 10 {
				publishBig(t, h, 1, size) // arrives during the replay
				live++
			}
		}
		select {
		case <-s.Done():
			t.Fatalf("session ended: %v", s.Cause())
		default:
		}
	})
}

// TestReplayStalledWriter: a writer that takes nothing ends the session as
// slow, with no more than the limit queued meanwhile.
func TestReplayStalledWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 8 << 10
		h, since := budgetHub(t, hub.Config{QueueLimit: limit, MaxMessageSize: 1 << 10}, 200, 500)
		s := newSession(t, h, dataEncoder{})
		if _, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since}); err != nil {
			t.Fatal(err)
		}
		<-s.Done()
		if err := s.Cause(); !errors.Is(err, stream.ErrSlowConsumer) {
			t.Errorf("ended with %v, want %v", err, stream.ErrSlowConsumer)
		}
		if q := queuedBytes(s.Take(nil)); q > limit {
			t.Errorf("%d bytes queued, limit %d", q, limit)
		}
	})
}

// TestLiveBufferCapped: live publications that arrive behind a replay the
// writer does not take are buffered up to the cap and then dropped, since
// the replay reads them from history: the session's memory stays bounded and
// a busy channel does not end it. A writer that takes nothing at all still
// ends it as slow once the replay has waited for it long enough.
func TestLiveBufferCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			limit = 8 << 10
			size  = 500
		)
		h, since := budgetHub(t, hub.Config{QueueLimit: limit, MaxMessageSize: 1 << 10}, 200, size)
		s := newSession(t, h, dataEncoder{})
		if _, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the replay waits for the writer
		capacity := hub.LiveBufferCap(h)
		if capacity <= 0 || capacity >= limit {
			t.Fatalf("buffer cap %d, queue limit %d", capacity, limit)
		}
		start := time.Now()
		most := 0
		const live = 100 // 50,000 bytes, many times the cap
		for i := range live {
			publishBig(t, h, 1, size)
			queued, buffered := s.Counted()
			if buffered > capacity {
				t.Fatalf("after %d live publications: %d bytes buffered, cap %d", i+1, buffered, capacity)
			}
			if queued+buffered > limit {
				t.Fatalf("after %d live publications: %d bytes queued and %d buffered, limit %d", i+1, queued, buffered, limit)
			}
			most = max(most, buffered)
			if ended(s) {
				t.Fatalf("session ended after %d live publications: %v", i+1, s.Cause())
			}
		}
		if most < capacity-size {
			t.Errorf("at most %d bytes buffered, want the buffer filled up to its cap %d", most, capacity)
		}
		<-s.Done()
		if err := s.Cause(); !errors.Is(err, stream.ErrSlowConsumer) {
			t.Errorf("ended with %v, want %v", err, stream.ErrSlowConsumer)
		}
		if waited := time.Since(start); waited < hub.ReplayStall {
			t.Errorf("ended %v after the live publications, before the replay waited %v for the writer", waited, hub.ReplayStall)
		}
		if q := queuedBytes(s.Take(nil)); q > limit {
			t.Errorf("%d bytes queued, limit %d", q, limit)
		}
	})
}

func ended(s *hub.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// TestReplayNoWait: a poll's replay is cut at the limit, keeps at least one
// publication, and the subscription takes nothing after the cut.
func TestReplayNoWait(t *testing.T) {
	const limit = 8 << 10
	h, since := budgetHub(t, hub.Config{QueueLimit: limit, MaxMessageSize: 1 << 10}, 200, 500)
	s := newSession(t, h, dataEncoder{})
	res, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || !res.Recovered {
		t.Errorf("subscribe: %+v, want recovered and truncated", res)
	}
	publishBig(t, h, 1, 500)
	items := s.Take(nil)
	if q := queuedBytes(items); q > limit || len(items) == 0 {
		t.Fatalf("%d items, %d bytes queued, limit %d", len(items), q, limit)
	}
	for i, it := range items {
		if it.Pub.Offset != since.Offset+1+uint64(i) {
			t.Fatalf("item %d: offset %d, want %d", i, it.Pub.Offset, since.Offset+1+uint64(i))
		}
	}

	// One publication larger than the limit still goes out alone.
	h2, since2 := budgetHub(t, hub.Config{QueueLimit: 100, MaxMessageSize: 1 << 10}, 3, 500)
	s2 := newSession(t, h2, dataEncoder{})
	if _, err := s2.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since2, NoWait: true}); err != nil {
		t.Fatal(err)
	}
	if items := s2.Take(nil); len(items) != 1 || items[0].Pub.Offset != since2.Offset+1 {
		t.Errorf("queued %d items, want the first publication alone", len(items))
	}
}

// TestHistoryReplyBudget: a history reply holds at most MaxReplyBytes of
// publications, at least one, and paging on with since continues it with
// no gap and no repeat.
func TestHistoryReplyBudget(t *testing.T) {
	const budget = 10_000
	h, since := budgetHub(t, hub.Config{MaxReplyBytes: budget}, 300, 1000)
	ctx := context.Background()
	s := newSession(t, h, dataEncoder{})
	id := stream.Identity{}
	reads := map[string]func(stream.HistoryQuery) (stream.HistoryPage, error){
		"Hub.History":     func(q stream.HistoryQuery) (stream.HistoryPage, error) { return h.History(ctx, "big", q) },
		"Hub.HistoryAs":   func(q stream.HistoryQuery) (stream.HistoryPage, error) { return h.HistoryAs(ctx, id, "big", q) },
		"Session.History": func(q stream.HistoryQuery) (stream.HistoryPage, error) { return s.History(ctx, "big", q) },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			want := since.Offset + 1
			pos := since
			for pages := 0; want <= since.Offset+300; pages++ {
				if pages > 300 {
					t.Fatal("paging does not end")
				}
				page, err := read(stream.HistoryQuery{Since: &pos, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Publications) == 0 {
					t.Fatalf("empty page at offset %d", want)
				}
				bytes := 0
				for _, p := range page.Publications {
					bytes += hub.ReplySize(p)
					if p.Offset != want {
						t.Fatalf("offset %d, want %d", p.Offset, want)
					}
					want++
				}
				if bytes > budget {
					t.Fatalf("reply of %d publications holds %d bytes, budget %d", len(page.Publications), bytes, budget)
				}
				pos = page.Publications[len(page.Publications)-1].Position()
			}
		})
	}

	t.Run("reverse", func(t *testing.T) {
		page, err := h.History(ctx, "big", stream.HistoryQuery{Limit: 1000, Reverse: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Publications) == 0 {
			t.Fatal("empty page")
		}
		bytes := 0
		want := page.Latest.Offset
		for _, p := range page.Publications {
			bytes += hub.ReplySize(p)
			if p.Offset != want {
				t.Fatalf("offset %d, want %d", p.Offset, want)
			}
			want--
		}
		if bytes > budget {
			t.Fatalf("reverse reply holds %d bytes, budget %d", bytes, budget)
		}
		small, err := h.History(ctx, "big", stream.HistoryQuery{Limit: 3, Reverse: true})
		if err != nil || len(small.Publications) != 3 || small.Publications[2].Offset != page.Latest.Offset-2 {
			t.Fatalf("limit 3 reverse: %v, %d publications", err, len(small.Publications))
		}
	})
	t.Run("reverse over many pages", func(t *testing.T) {
		h, _ := budgetHub(t, hub.Config{}, 300, 10)
		page, err := h.History(ctx, "big", stream.HistoryQuery{Limit: 250, Reverse: true})
		if err != nil || len(page.Publications) != 250 {
			t.Fatalf("%v, %d publications, want 250", err, len(page.Publications))
		}
		for i, p := range page.Publications {
			if want := page.Latest.Offset - uint64(i); p.Offset != want {
				t.Fatalf("publication %d: offset %d, want %d", i, p.Offset, want)
			}
		}
		last := page.Publications[249].Position()
		since := stream.Position{Epoch: last.Epoch, Offset: last.Offset - 5}
		floor, err := h.History(ctx, "big", stream.HistoryQuery{Since: &since, Limit: 250, Reverse: true})
		if err != nil || len(floor.Publications) != 255 && len(floor.Publications) != 250 {
			t.Fatalf("%v, %d publications", err, len(floor.Publications))
		}
		if got := floor.Publications[len(floor.Publications)-1].Offset; got <= since.Offset {
			t.Fatalf("reverse with since went down to offset %d, since %d", got, since.Offset)
		}
	})
	t.Run("one larger than the budget", func(t *testing.T) {
		h, since := budgetHub(t, hub.Config{MaxReplyBytes: 100}, 3, 1000)
		page, err := h.History(ctx, "big", stream.HistoryQuery{Since: &since, Limit: 10})
		if err != nil || len(page.Publications) != 1 {
			t.Fatalf("%v, %d publications, want 1", err, len(page.Publications))
		}
	})
}
