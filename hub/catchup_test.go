package hub_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// takeInOrder takes what s has queued once the hub has queued what it may,
// and checks that it is the publications from *want on, in order, within
// limit bytes; it advances *want past them and returns how many there were.
func takeInOrder(t *testing.T, s *hub.Session, want *uint64, limit int) int {
	t.Helper()
	synctest.Wait()
	items := s.Take(nil)
	if q := queuedBytes(items); q > limit {
		t.Fatalf("%d bytes queued, limit %d", q, limit)
	}
	for _, it := range items {
		if it.Pub == nil {
			continue
		}
		if it.Pub.Offset != *want {
			t.Fatalf("offset %d, want %d", it.Pub.Offset, *want)
		}
		*want++
	}
	return len(items)
}

// TestReplayCatchesUpWithBusyChannel resumes a subscriber from far behind
// while a steady stream of live publications, many times what the live
// buffer holds, arrives during its replay: the session is not ended, its
// queue stays within the limit, and it gets every offset exactly once, in
// order, the replay reading from history what the buffer could not hold.
func TestReplayCatchesUpWithBusyChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			limit    = 8 << 10
			n        = 200
			size     = 500
			live     = 120 // 60,000 bytes
			perRound = 3   // a third of what one round of the replay queues
		)
		h, since := budgetHub(t, hub.Config{QueueLimit: limit, MaxMessageSize: 1 << 10}, n, size)
		if live*size < 10*hub.LiveBufferCap(h) {
			t.Fatalf("%d bytes of live publications, buffer cap %d: not a busy channel", live*size, hub.LiveBufferCap(h))
		}
		s := newSession(t, h, dataEncoder{})
		res, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Recovered || res.Replayed != n {
			t.Fatalf("subscribe: %+v, want recovered with %d to replay", res, n)
		}
		want := since.Offset + 1
		published := 0
		for round := 0; want <= since.Offset+n+live; round++ {
			if takeInOrder(t, s, &want, limit) == 0 {
				t.Fatalf("round %d: nothing queued, offset %d still to come (session cause: %v)", round, want, s.Cause())
			}
			for i := 0; i < perRound && published < live; i++ {
				publishBig(t, h, 1, size)
				published++
			}
		}
		if takeInOrder(t, s, &want, limit) != 0 {
			t.Fatal("more queued after the last publication")
		}
		if ended(s) {
			t.Fatalf("session ended: %v", s.Cause())
		}
	})
}

// busyBroker is the memory broker on a channel so busy that publications
// arrive between a subscription's joining the channel and its reading
// history: once armed, the next History publishes before it returns.
type busyBroker struct {
	*memory.Broker
	mu    sync.Mutex
	after func()
}

func (b *busyBroker) arm(f func()) {
	b.mu.Lock()
	b.after = f
	b.mu.Unlock()
}

func (b *busyBroker) History(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	page, err := b.Broker.History(ctx, ch, q)
	b.mu.Lock()
	f := b.after
	b.after = nil
	b.mu.Unlock()
	if f != nil {
		f()
	}
	return page, err
}

// TestSubscribeOverflowsWhileJoining: live publications that overflow the
// buffer before a subscription has even read history, with or without a
// position to resume from, are replayed from history: none is lost or
// repeated, and the session is not ended.
func TestSubscribeOverflowsWhileJoining(t *testing.T) {
	for _, resume := range []bool{false, true} {
		name := "live"
		if resume {
			name = "resume"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const (
					limit = 8 << 10
					size  = 500
					burst = 20 // 10,000 bytes: more than the buffer and the queue hold
				)
				b := &busyBroker{Broker: memory.New(memory.Config{})}
				h, since := budgetHub(t, hub.Config{Broker: b, QueueLimit: limit, MaxMessageSize: 1 << 10}, 5, size)
				b.arm(func() { publishBig(t, h, burst, size) })
				s := newSession(t, h, dataEncoder{})
				opts := hub.SubscribeOptions{}
				want := since.Offset + 6 // live: from after the position when joining
				if resume {
					opts.Since = &since
					want = since.Offset + 1
				}
				res, err := s.Subscribe(context.Background(), "big", opts)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Recovered {
					t.Fatalf("subscribe: %+v, want recovered", res)
				}
				last := since.Offset + 5 + burst
				for round := 0; want <= last; round++ {
					if takeInOrder(t, s, &want, limit) == 0 {
						t.Fatalf("round %d: nothing queued, offset %d still to come (session cause: %v)", round, want, s.Cause())
					}
				}
				publishBig(t, h, 1, size)
				if takeInOrder(t, s, &want, limit) != 1 || want != last+2 {
					t.Fatalf("the live publication after the burst was not queued alone")
				}
				if ended(s) {
					t.Fatalf("session ended: %v", s.Cause())
				}
			})
		})
	}
}

// TestReplayOverflowEpochChanged: when the channel starts a new epoch during
// a replay and its publications overflow the buffer, the replay cannot catch
// up from history: the session ends as slow after a gap-free prefix of the
// old epoch, and the client learns recovered: false when it resumes.
func TestReplayOverflowEpochChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			limit = 8 << 10
			n     = 200
			size  = 500
		)
		b := &repeatingBroker{Broker: memory.New(memory.Config{})}
		h, since := budgetHub(t, hub.Config{Broker: b, QueueLimit: limit, MaxMessageSize: 1 << 10}, n, size)
		s := newSession(t, h, dataEncoder{})
		if _, err := s.Subscribe(context.Background(), "big", hub.SubscribeOptions{Since: &since}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the replay waits for the writer
		data := []byte(`"` + strings.Repeat("y", size-2) + `"`)
		for i := range 10 {
			b.repeat(t, &stream.Publication{Channel: "big", Epoch: since.Epoch + "-next", Offset: uint64(i + 1), Data: data})
		}
		want := since.Offset + 1
		for round := 0; !ended(s); round++ {
			if round > n {
				t.Fatal("the replay does not end")
			}
			for _, it := range s.Take(nil) {
				if it.Pub.Epoch != since.Epoch || it.Pub.Offset != want {
					t.Fatalf("queued %s/%d, want %s/%d", it.Pub.Epoch, it.Pub.Offset, since.Epoch, want)
				}
				want++
			}
			synctest.Wait()
		}
		if err := s.Cause(); !errors.Is(err, stream.ErrSlowConsumer) {
			t.Errorf("ended with %v, want %v", err, stream.ErrSlowConsumer)
		}
		for _, it := range s.Take(nil) {
			if it.Pub.Epoch != since.Epoch || it.Pub.Offset != want {
				t.Fatalf("queued %s/%d, want %s/%d", it.Pub.Epoch, it.Pub.Offset, since.Epoch, want)
			}
			want++
		}
		if want != since.Offset+n+1 {
			t.Errorf("replayed up to offset %d, want %d", want-1, since.Offset+n)
		}
	})
}
