package relay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// lose drops the newest publications of ch, keeping the first keep: what a
// Redis primary that acknowledged them alone loses when a replica that
// lacks them takes over. The channel stays in its epoch.
func (s *source) lose(ch string, keep int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubs[ch] = s.pubs[ch][:keep]
}

// regress is the broker's side of Config.Regressed: if ch is still in
// last's epoch and ends before last, it starts ch over in a new epoch, with
// its history dropped. It counts its calls.
func (s *source) regress(ch string, last stream.Position, calls *int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*calls++
	pubs := s.pubs[ch]
	if len(pubs) == 0 || pubs[0].Epoch != last.Epoch || pubs[len(pubs)-1].Offset >= last.Offset {
		return
	}
	s.pubs[ch] = nil
	if s.moved == nil {
		s.moved = make(map[string]string)
	}
	s.moved[ch] = "new"
}

// next publishes the channel's next publication in its current epoch: the
// one it was moved to, if it was.
func (s *source) next(ch string) relay.Live {
	s.mu.Lock()
	epoch := s.moved[ch]
	if pubs := s.pubs[ch]; len(pubs) > 0 {
		epoch = pubs[0].Epoch
	}
	s.mu.Unlock()
	return s.publish(ch, epoch)
}

// newRegressNode is a node whose broker moves a channel whose history went
// backwards to epoch "new", and counts how often it was asked to.
func newRegressNode(t *testing.T, batch bool, calls *int) *node {
	t.Helper()
	var n *node
	n = newNodeWith(t, batch, func(cfg *relay.Config) {
		cfg.Regressed = func(_ context.Context, ch string, last stream.Position, _ int64) error {
			n.src.regress(ch, last, calls)
			return nil
		}
	})
	return n
}

// A repair that finds a channel's history ending, in the same epoch,
// before what the node delivered has the broker start a new epoch, so the
// publications that follow, at offsets the subscribers saw before, are
// delivered in it instead of dropped as repeats.
func TestRepairFindsHistoryWentBackwards(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			var calls int
			n := newRegressNode(t, batch, &calls)
			s := n.subscribe("a")
			for range 3 {
				if err := n.handle(t, "a", n.src.publish("a", "e")); err != nil {
					t.Fatal(err)
				}
			}
			n.src.lose("a", 1)
			if err := n.relay.Repair(context.Background(), []*relay.Sub{s}); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("Regressed called %d times, want once", calls)
			}
			if err := n.handle(t, "a", n.src.next("a")); err != nil {
				t.Fatal(err)
			}
			check(t, "after history went backwards", n.delivered("a"), "e/1", "e/2", "e/3", "new/1")
			if err := n.relay.Repair(context.Background(), []*relay.Sub{s}); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("Regressed called %d times after a second repair, want still once", calls)
			}
		})
	}
}

// Until a repair has seen a channel's history reach what the node
// delivered, a live publication at or below it is checked against history
// rather than dropped as a repeat; once one has, repeats cost no read.
func TestLiveRepeatCheckedUntilRepaired(t *testing.T) {
	var calls int
	n := newRegressNode(t, false, &calls)
	s := n.subscribe("a")
	for range 3 {
		if err := n.handle(t, "a", n.src.publish("a", "e")); err != nil {
			t.Fatal(err)
		}
	}
	// A repair that could not read the channel confirms nothing.
	n.src.setFail("a", errPermanent)
	if err := n.relay.Repair(context.Background(), []*relay.Sub{s}); err != nil {
		t.Fatal(err)
	}
	n.src.setFail("a", nil)
	n.src.lose("a", 1)
	if err := n.handle(t, "a", n.src.next("a")); err != nil { // e/2 again, not the same publication
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Regressed called %d times, want once", calls)
	}
	if err := n.handle(t, "a", n.src.next("a")); err != nil {
		t.Fatal(err)
	}
	check(t, "after history went backwards", n.delivered("a"), "e/1", "e/2", "e/3", "new/1")

	// Repaired: a repeat is a repeat.
	reads := n.src.reads
	m := n.src.next("a")
	for range 2 {
		if err := n.handle(t, "a", m); err != nil {
			t.Fatal(err)
		}
	}
	if n.src.reads != reads {
		t.Errorf("%d history reads for publications in order once repaired, want none", n.src.reads-reads)
	}
	check(t, "the next publication", n.delivered("a"), "e/1", "e/2", "e/3", "new/1", "new/2")
}

// A live publication of an epoch the channel has left — one that was on
// its way over a connection to a server that no longer holds the channel
// when the channel moved to a new epoch — is dropped: subscribers already
// follow the new epoch, and delivering it would take them back to the old
// one, and then through the new epoch's publications a second time.
func TestLateOldEpochPublicationDropped(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			n := newNode(t, batch)
			n.subscribe("a")
			var late relay.Live
			for i := range 3 {
				m := n.src.publish("a", "old")
				if i == 2 {
					late = m // still on its way when the channel moves on
					continue
				}
				if err := n.handle(t, "a", m); err != nil {
					t.Fatal(err)
				}
			}
			// The broker lost everything: the channel starts epoch "new".
			for range 2 {
				if err := n.handle(t, "a", n.src.publish("a", "new")); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.handle(t, "a", late); err != nil {
				t.Fatal(err)
			}
			if err := n.handle(t, "a", n.src.publish("a", "new")); err != nil {
				t.Fatal(err)
			}
			check(t, "with a late publication of the old epoch", n.delivered("a"), "old/1", "old/2", "new/1", "new/2", "new/3")
		})
	}
}
