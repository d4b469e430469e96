package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// The relay is tested here against a fake history, one decision at a time;
// broker/brokertest holds the Redis and NATS brokers to the same decisions
// end to end.

// source is a broker's storage as the relay sees it: each channel's
// publications in its current epoch, and errors to answer reads with.
type source struct {
	mu    sync.Mutex
	pubs  map[string][]*stream.Publication
	fail  map[string]error // a channel's reads fail with this
	reads int
	// moved holds the epoch a channel was moved to after its history went
	// backwards (see regress), until it is published to.
	moved map[string]string
}

func newSource() *source {
	return &source{pubs: make(map[string][]*stream.Publication), fail: make(map[string]error)}
}

// publish stores the channel's next publication in epoch (a new epoch
// starts the channel over) and returns it as the relay would receive it.
func (s *source) publish(ch, epoch string) relay.Live {
	s.mu.Lock()
	defer s.mu.Unlock()
	pubs := s.pubs[ch]
	if len(pubs) > 0 && pubs[0].Epoch != epoch {
		pubs = nil
	}
	off := uint64(len(pubs) + 1)
	data := json.RawMessage(fmt.Sprintf(`{"n":%d}`, off))
	s.pubs[ch] = append(pubs, &stream.Publication{Channel: ch, Epoch: epoch, Offset: off, Time: int64(off), Data: data})
	return relay.Live{Epoch: epoch, Offset: off, Time: int64(off), Body: body.Encode(&stream.PublishRequest{Data: data})}
}

func (s *source) setFail(ch string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, ch)
		return
	}
	s.fail[ch] = err
}

// history answers as hub.Broker.History does, for Since and Limit.
func (s *source) history(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if err := ctx.Err(); err != nil {
		return stream.HistoryPage{}, err
	}
	if err := s.fail[ch]; err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, err)
	}
	pubs := s.pubs[ch]
	var page stream.HistoryPage
	page.Earliest = 1
	if len(pubs) > 0 {
		page.Latest = pubs[len(pubs)-1].Position()
	}
	from := 0
	if q.Since != nil {
		if q.Since.Epoch != page.Latest.Epoch {
			return page, nil
		}
		from = int(min(q.Since.Offset, uint64(len(pubs))))
	}
	out := pubs[from:]
	if q.Limit >= 0 && q.Limit < len(out) {
		out = out[:q.Limit]
	}
	page.Publications = slices.Clone(out)
	return page, nil
}

// node is one relay with what it delivered.
type node struct {
	src   *source
	subs  relay.Set
	relay *relay.Relay
	mu    sync.Mutex
	got   []*stream.Publication
}

func newNode(t *testing.T, batch bool) *node {
	t.Helper()
	return newNodeWith(t, batch, nil)
}

// newNodeWith is newNode with edit applied to the relay's Config.
func newNodeWith(t *testing.T, batch bool, edit func(*relay.Config)) *node {
	t.Helper()
	n := &node{src: newSource()}
	cfg := relay.Config{
		Name:    "test",
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Subs:    &n.subs,
		History: n.src.history,
	}
	if batch {
		cfg.Histories = func(ctx context.Context, reads []relay.Read) {
			for i := range reads {
				reads[i].Page, reads[i].Err = n.src.history(ctx, reads[i].Channel, reads[i].Query)
			}
		}
	}
	if edit != nil {
		edit(&cfg)
	}
	n.relay = relay.New(cfg, func(p *stream.Publication) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.got = append(n.got, p)
	})
	return n
}

// subscribe subscribes ch at the source's current position.
func (n *node) subscribe(ch string) *relay.Sub {
	var pos stream.Position
	if pubs := n.src.pubs[ch]; len(pubs) > 0 {
		pos = pubs[len(pubs)-1].Position()
	}
	s := relay.NewSub(ch, pos)
	n.subs.Add(s)
	return s
}

func (n *node) handle(t *testing.T, ch string, m relay.Live) error {
	t.Helper()
	return n.relay.Handle(context.Background(), ch, m)
}

// delivered returns the positions delivered on ch, as "epoch/offset".
func (n *node) delivered(ch string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.got {
		if p.Channel == ch {
			out = append(out, fmt.Sprintf("%s/%d", p.Epoch, p.Offset))
		}
	}
	return out
}

func check(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: delivered %v, want %v", what, got, want)
	}
}

var (
	errPermanent = fmt.Errorf("%w: offset 2: %w", stream.ErrInternal, body.ErrMalformed)
	errTransient = fmt.Errorf("%w: connection refused", stream.ErrUnavailable)
)

func TestNextAndRepeat(t *testing.T) {
	n := newNode(t, false)
	n.subscribe("a")
	m1, m2 := n.src.publish("a", "e"), n.src.publish("a", "e")
	for _, m := range []relay.Live{m1, m2, m1, m2} {
		if err := n.handle(t, "a", m); err != nil {
			t.Fatal(err)
		}
	}
	check(t, "two publications, each twice", n.delivered("a"), "e/1", "e/2")
	if n.src.reads != 0 {
		t.Errorf("%d history reads for publications in order, want none", n.src.reads)
	}
	if err := n.handle(t, "b", n.src.publish("b", "e")); err != nil {
		t.Fatal(err)
	}
	check(t, "a channel not subscribed", n.delivered("b"))
}

func TestGapFilledFromHistory(t *testing.T) {
	n := newNode(t, false)
	n.subscribe("a")
	n.src.publish("a", "e")
	n.src.publish("a", "e")
	m3 := n.src.publish("a", "e")
	if err := n.handle(t, "a", m3); err != nil {
		t.Fatal(err)
	}
	check(t, "after a gap", n.delivered("a"), "e/1", "e/2", "e/3")
}

func TestNewEpochFromItsStart(t *testing.T) {
	n := newNode(t, false)
	n.src.publish("a", "old")
	n.subscribe("a")
	n.src.publish("a", "new")
	m2 := n.src.publish("a", "new")
	if err := n.handle(t, "a", m2); err != nil {
		t.Fatal(err)
	}
	check(t, "after an epoch change", n.delivered("a"), "new/1", "new/2")
}

// TestPermanentErrorIsAGap is the decision the brokers used to differ on:
// history that cannot be read is a gap the live publication is delivered
// after, and the channel goes on, where waiting would stall it for good.
func TestPermanentErrorIsAGap(t *testing.T) {
	n := newNode(t, false)
	n.subscribe("a")
	if err := n.handle(t, "a", n.src.publish("a", "e")); err != nil {
		t.Fatal(err)
	}
	n.src.publish("a", "e") // unreadable, and lost on the way
	m3 := n.src.publish("a", "e")
	n.src.setFail("a", errPermanent)
	if err := n.handle(t, "a", m3); err != nil {
		t.Fatalf("Handle with unreadable history = %v, want nil: a gap, not a retry", err)
	}
	if err := n.handle(t, "a", n.src.publish("a", "e")); err != nil {
		t.Fatal(err)
	}
	check(t, "around unreadable history", n.delivered("a"), "e/1", "e/3", "e/4")
}

func TestTransientErrorIsRetried(t *testing.T) {
	n := newNode(t, false)
	n.subscribe("a")
	n.src.publish("a", "e")
	m2 := n.src.publish("a", "e")
	n.src.setFail("a", errTransient)
	err := n.handle(t, "a", m2)
	if !relay.Transient(err) {
		t.Fatalf("Handle with history unavailable = %v, want a transient error", err)
	}
	check(t, "while history is unavailable", n.delivered("a"))
	n.src.setFail("a", nil)
	if err := n.handle(t, "a", m2); err != nil {
		t.Fatal(err)
	}
	check(t, "once history answers", n.delivered("a"), "e/1", "e/2")
}

func TestUnreadableLiveIsFilledFromHistory(t *testing.T) {
	n := newNode(t, false)
	n.subscribe("a")
	m1 := n.src.publish("a", "e")
	m1.Body = []byte{0x02, 0} // a format of a later version
	if err := n.handle(t, "a", m1); err != nil {
		t.Fatal(err)
	}
	// Not when the channel's next publication comes, which may be never.
	check(t, "an unreadable body", n.delivered("a"), "e/1")
	n.src.publish("a", "e")
	n.relay.Unreadable(context.Background(), "a", body.ErrMalformed) // a message without even a position
	check(t, "a message without a position", n.delivered("a"), "e/1", "e/2")
	if err := n.handle(t, "a", n.src.publish("a", "e")); err != nil {
		t.Fatal(err)
	}
	check(t, "the next publication", n.delivered("a"), "e/1", "e/2", "e/3")
}

func TestRepair(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			n := newNode(t, batch)
			var subs []*relay.Sub
			for _, ch := range []string{"a", "b", "c", "d"} {
				n.src.publish(ch, "e")
				subs = append(subs, n.subscribe(ch))
				n.src.publish(ch, "e")
			}
			n.src.publish("c", "new") // c lost its history
			n.src.setFail("b", errPermanent)
			if err := n.relay.Repair(context.Background(), subs); err != nil {
				t.Fatalf("Repair with one unreadable channel = %v, want nil", err)
			}
			check(t, "a", n.delivered("a"), "e/2")
			check(t, "b, unreadable", n.delivered("b"))
			check(t, "c, in a new epoch", n.delivered("c"), "new/1")
			check(t, "d", n.delivered("d"), "e/2")

			n.src.publish("d", "e")
			n.src.setFail("b", errTransient)
			if err := n.relay.Repair(context.Background(), subs); !relay.Transient(err) {
				t.Fatalf("Repair with one channel unavailable = %v, want a transient error", err)
			}
			n.src.setFail("b", nil)
			if err := n.relay.Repair(context.Background(), subs); err != nil {
				t.Fatal(err)
			}
			check(t, "b, readable again", n.delivered("b"), "e/2")
			check(t, "d, after the retry", n.delivered("d"), "e/2", "e/3")
		})
	}
}

func TestUnsubscribedIsNotDelivered(t *testing.T) {
	n := newNode(t, false)
	s := n.subscribe("a")
	n.src.publish("a", "e")
	m2 := n.src.publish("a", "e")
	n.subs.Remove(s)
	if err := n.handle(t, "a", m2); err != nil {
		t.Fatal(err)
	}
	if err := n.relay.Repair(context.Background(), []*relay.Sub{s}); err != nil {
		t.Fatal(err)
	}
	check(t, "after Remove", n.delivered("a"))
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errTransient, true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("history: %w", context.Canceled), true},
		{errPermanent, false},
		{fmt.Errorf("%w: %w", stream.ErrUnavailable, errPermanent), false},
		{errors.New("something else"), false},
	} {
		if got := relay.Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
