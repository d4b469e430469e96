package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Broker = (*memory.Broker)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBroker(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return memory.New(memory.Config{})
	})
}

// clock is a Config.Now that moves only when told to.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// publish publishes to ch with r's settings.
func publish(t *testing.T, b *memory.Broker, ch string, r stream.PublishRequest) stream.PublishResult {
	t.Helper()
	r.Channel = ch
	if r.Data == nil {
		r.Data = json.RawMessage(`{}`)
	}
	res, err := b.Publish(context.Background(), r)
	must(t, err)
	return res
}

func history(t *testing.T, b *memory.Broker, ch string, q stream.HistoryQuery) stream.HistoryPage {
	t.Helper()
	page, err := b.History(context.Background(), ch, q)
	must(t, err)
	return page
}

var all = stream.HistoryQuery{Limit: -1}

func TestIdleChannelForgotten(t *testing.T) {
	clk := newClock()
	b := memory.New(memory.Config{Now: clk.Now, IdleTTL: time.Hour, SweepInterval: time.Millisecond})
	brokertest.Start(t, b)
	ctx := context.Background()

	noHistory := stream.PublishRequest{HistorySize: 0}
	expiring := stream.PublishRequest{HistorySize: 10, HistoryTTL: 10 * time.Minute}
	forever := stream.PublishRequest{HistorySize: 10}
	gone := publish(t, b, "idle:no-history", noHistory)
	expired := publish(t, b, "idle:expired", expiring)
	read := history(t, b, "idle:read-only", all).Latest
	kept := publish(t, b, "idle:kept", forever)
	must(t, b.Subscribe(ctx, "idle:subscribed"))
	sub := publish(t, b, "idle:subscribed", noHistory)
	must(t, b.Subscribe(ctx, "idle:left"))

	clk.Advance(2 * time.Hour)
	// Leaving restarts the idle clock, so clients that just left can resume.
	must(t, b.Unsubscribe(ctx, "idle:left"))
	testkit.Eventually(t, "idle channels to be forgotten", func() bool { return b.Stats().Channels == 3 })
	if s := b.Stats(); s.Subscribed != 1 || s.Publications != 1 {
		t.Fatalf("after the sweep: %+v; want 1 subscribed channel and 1 publication", s)
	}

	for ch, before := range map[string]stream.Position{"idle:no-history": gone.Position, "idle:expired": expired.Position, "idle:read-only": read} {
		page := history(t, b, ch, all)
		if page.Latest.Epoch == before.Epoch || page.Latest.Offset != 0 {
			t.Errorf("%s: forgotten at %+v, came back at %+v; want a new epoch at offset 0", ch, before, page.Latest)
		}
		if page.Recoverable(before) {
			t.Errorf("%s: the old position %+v is recoverable in the new epoch", ch, before)
		}
	}
	if got := publish(t, b, "idle:kept", forever); got.Epoch != kept.Epoch || got.Offset != 2 {
		t.Errorf("channel with history: %+v after %+v; want the same epoch, offset 2", got.Position, kept.Position)
	}
	if got := publish(t, b, "idle:subscribed", noHistory); got.Epoch != sub.Epoch || got.Offset != 2 {
		t.Errorf("subscribed channel: %+v after %+v; want the same epoch, offset 2", got.Position, sub.Position)
	}

	// An hour after leaving, the channel goes too.
	clk.Advance(time.Hour)
	must(t, b.Unsubscribe(ctx, "idle:subscribed"))
	testkit.Eventually(t, "the channel left an hour ago to be forgotten", func() bool { return b.Stats().Channels == 2 })
	if s := b.Stats(); s.Channels != 2 || s.Subscribed != 0 {
		t.Errorf("%+v; want idle:kept and idle:subscribed left", s)
	}
}

func TestSweeperFreesKeys(t *testing.T) {
	clk := newClock()
	b := memory.New(memory.Config{Now: clk.Now, SweepInterval: time.Millisecond})
	brokertest.Start(t, b)
	for i := range 100 {
		publish(t, b, "keys:c", stream.PublishRequest{Key: fmt.Sprint(i), KeyTTL: time.Minute, HistorySize: 10})
	}
	publish(t, b, "keys:default-ttl", stream.PublishRequest{Key: "k", HistorySize: 10})
	if s := b.Stats(); s.Keys != 101 {
		t.Fatalf("%d keys remembered, want 101", s.Keys)
	}

	clk.Advance(time.Minute)
	testkit.Eventually(t, "keys past their window to be freed", func() bool { return b.Stats().Keys == 1 })
	clk.Advance(stream.DefaultKeyTTL)
	testkit.Eventually(t, "the default window to pass", func() bool { return b.Stats().Keys == 0 })
	// Both channels and run's probe.
	if s := b.Stats(); s.Channels != 3 || s.Publications != 11 {
		t.Errorf("%+v; want the channels and their history kept", s)
	}
	if res := publish(t, b, "keys:c", stream.PublishRequest{Key: "0", HistorySize: 10}); res.Duplicate || res.Offset != 101 {
		t.Errorf("publish with a freed key: %+v, want offset 101, not a duplicate", res)
	}
}

// TestKeyExpiresWithoutSweeper: the window is enforced on publish, so a key
// that the sweeper has not freed yet is still not honoured past its window.
func TestKeyExpiresWithoutSweeper(t *testing.T) {
	clk := newClock()
	b := memory.New(memory.Config{Now: clk.Now})
	r := stream.PublishRequest{Key: "k", KeyTTL: time.Minute}
	publish(t, b, "keys:c", r)
	clk.Advance(time.Minute - time.Nanosecond)
	if res := publish(t, b, "keys:c", r); !res.Duplicate {
		t.Fatalf("inside the window: %+v, want a duplicate", res)
	}
	clk.Advance(time.Nanosecond)
	if res := publish(t, b, "keys:c", r); res.Duplicate || res.Offset != 2 {
		t.Fatalf("at the end of the window: %+v, want offset 2", res)
	}
}

func TestHistoryTTLPerPublication(t *testing.T) {
	clk := newClock()
	b := memory.New(memory.Config{Now: clk.Now})
	r := stream.PublishRequest{HistorySize: 10, HistoryTTL: 150 * time.Second}
	for range 3 {
		publish(t, b, "ttl:c", r)
		clk.Advance(time.Minute)
	}
	// Published at 0, 1m and 2m; it is now 3m.
	for _, c := range []struct {
		advance  time.Duration
		earliest uint64
		want     []uint64
	}{
		{0, 2, []uint64{2, 3}},
		{90*time.Second - time.Millisecond, 3, []uint64{3}},
		{time.Millisecond, 4, nil},
	} {
		clk.Advance(c.advance)
		page := history(t, b, "ttl:c", all)
		if page.Earliest != c.earliest || page.Latest.Offset != 3 || !cmp.Equal(brokertest.Offsets(page.Publications), c.want) {
			t.Errorf("at +%v: Earliest %d, Latest %d, offsets %v; want %d, 3, %v",
				c.advance, page.Earliest, page.Latest.Offset, brokertest.Offsets(page.Publications), c.earliest, c.want)
		}
	}
}

// TestHistoryModel checks the history ring against a plain slice, with sizes
// that grow and shrink, including to zero, while the sweeper compacts.
func TestHistoryModel(t *testing.T) {
	b := memory.New(memory.Config{SweepInterval: time.Millisecond})
	brokertest.Start(t, b)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 5, 8, 9, 17, 100}
	var model []uint64
	var top uint64
	for i := range 2000 {
		size := sizes[rng.IntN(len(sizes))]
		if i%500 > 250 {
			size = 300 // grow past several doublings now and then
		}
		res := publish(t, b, "model:c", stream.PublishRequest{HistorySize: size})
		top++
		if res.Offset != top {
			t.Fatalf("publish %d got offset %d", top, res.Offset)
		}
		model = append(model, top)
		model = model[max(len(model)-size, 0):]

		page := history(t, b, "model:c", all)
		if !slices.Equal(brokertest.Offsets(page.Publications), model) || page.Earliest != top-uint64(len(model))+1 {
			t.Fatalf("after publish %d with size %d: Earliest %d, offsets %v; want %v",
				top, size, page.Earliest, brokertest.Offsets(page.Publications), model)
		}
		if len(model) == 0 {
			continue
		}
		// Newest first, after the oldest kept.
		since := stream.Position{Epoch: page.Latest.Epoch, Offset: model[0]}
		var want []uint64
		for i := len(model) - 1; i >= 1 && len(want) < 4; i-- {
			want = append(want, model[i])
		}
		back := history(t, b, "model:c", stream.HistoryQuery{Since: &since, Limit: 4, Reverse: true})
		if got := brokertest.Offsets(back.Publications); !slices.Equal(got, want) {
			t.Fatalf("reverse after %d: %v, want %v", model[0], got, want)
		}
	}
}

func TestNotDeliveredWithoutRun(t *testing.T) {
	b := memory.New(memory.Config{})
	// Subscribe waits for Run, so it cannot promise delivery that will not
	// happen.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := b.Subscribe(ctx, "norun:c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("subscribe without Run: %v, want the context's deadline", err)
	}
	cancel()
	publish(t, b, "norun:c", stream.PublishRequest{HistorySize: 10})
	d := brokertest.Start(t, b)
	must(t, b.Subscribe(context.Background(), "norun:c"))
	publish(t, b, "norun:c", stream.PublishRequest{HistorySize: 10})
	if got := brokertest.Offsets(d.Get("norun:c")); !cmp.Equal(got, []uint64{2}) {
		t.Errorf("delivered %v, want only offset 2", got)
	}
	if page := history(t, b, "norun:c", all); !cmp.Equal(brokertest.Offsets(page.Publications), []uint64{1, 2}) {
		t.Errorf("history %v, want both", brokertest.Offsets(page.Publications))
	}
}

// TestDeliveredIsStored: subscribers and history readers share one
// Publication, which is what makes encoding it once per format worthwhile.
func TestDeliveredIsStored(t *testing.T) {
	b := memory.New(memory.Config{})
	d := brokertest.Start(t, b)
	must(t, b.Subscribe(context.Background(), "shared:c"))
	publish(t, b, "shared:c", stream.PublishRequest{HistorySize: 10})
	got := d.Get("shared:c")
	page := history(t, b, "shared:c", all)
	if len(page.Publications) != 1 || len(got) != 1 || got[0] != page.Publications[0] {
		t.Errorf("the delivered publication is not the one in history")
	}
}

func TestRunOnce(t *testing.T) {
	b := memory.New(memory.Config{})
	brokertest.Start(t, b)
	err := b.Run(context.Background(), func(*stream.Publication) {})
	if err == nil {
		t.Fatal("a second concurrent Run returned nil")
	}
	if err := b.Run(context.Background(), nil); err == nil {
		t.Error("Run with a nil deliver returned nil")
	}
}

func TestRunAgain(t *testing.T) {
	b := memory.New(memory.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var first atomic.Int64
	go func() {
		done <- b.Run(ctx, func(*stream.Publication) { first.Add(1) })
	}()
	must(t, b.Subscribe(ctx, "again:c"))
	testkit.Eventually(t, "the first Run to deliver", func() bool {
		publish(t, b, "again:c", stream.PublishRequest{})
		return first.Load() > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	n := first.Load()
	publish(t, b, "again:c", stream.PublishRequest{})
	if first.Load() != n {
		t.Fatal("delivered after Run returned")
	}

	d := brokertest.Start(t, b)
	publish(t, b, "again:c", stream.PublishRequest{})
	if got := d.Get("again:c"); len(got) != 1 {
		t.Errorf("a second Run after the first returned does not deliver")
	}
}

// TestRunWaitsForDeliver: once Run has returned the hub may tear down what
// deliver uses, so Run must not return while a delivery is running.
func TestRunWaitsForDeliver(t *testing.T) {
	b := memory.New(memory.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(p *stream.Publication) {
			if p.Channel == "wait:blocking" {
				once.Do(func() { close(entered) })
				<-release
			}
		})
	}()
	must(t, b.Subscribe(ctx, "wait:blocking"))
	published := make(chan struct{})
	go func() {
		defer close(published)
		// Until Run has stored deliver, publications are not delivered.
		for {
			select {
			case <-entered:
				return
			default:
				if _, err := b.Publish(ctx, stream.PublishRequest{Channel: "wait:blocking"}); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	<-entered
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while deliver was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-published
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestUnsubscribeLeavesNoState: the suite checks what Unsubscribe
// returns; a refused or needless one must also leave nothing to sweep.
func TestUnsubscribeLeavesNoState(t *testing.T) {
	b := memory.New(memory.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Unsubscribe(ctx, "ctx:c"); err == nil {
		t.Error("Unsubscribe on a cancelled context succeeded")
	}
	if err := b.Unsubscribe(context.Background(), "bad name"); err == nil {
		t.Error("Unsubscribe of an invalid name succeeded")
	}
	if err := b.Unsubscribe(context.Background(), "ctx:never-seen"); err != nil {
		t.Errorf("Unsubscribe of an unknown channel: %v", err)
	}
	if s := b.Stats(); s.Channels != 0 {
		t.Errorf("Unsubscribe created state: %+v", s)
	}
}
