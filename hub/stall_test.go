package hub_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// stalledBroker is a memory broker whose Subscribe and Unsubscribe of one
// channel block until released (or their ctx ends), as a broker that
// stopped answering does.
type stalledBroker struct {
	*memory.Broker
	channel string
	entered chan string   // receives the operation each time one blocks
	release chan struct{} // closed to let them through
}

func newStalledBroker(channel string) *stalledBroker {
	return &stalledBroker{
		Broker:  memory.New(memory.Config{}),
		channel: channel,
		entered: make(chan string, 16),
		release: make(chan struct{}),
	}
}

func (b *stalledBroker) block(ctx context.Context, op, ch string) error {
	if ch != b.channel {
		return nil
	}
	b.entered <- op
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *stalledBroker) Subscribe(ctx context.Context, ch string) error {
	if err := b.block(ctx, "subscribe", ch); err != nil {
		return err
	}
	return b.Broker.Subscribe(ctx, ch)
}

func (b *stalledBroker) Unsubscribe(ctx context.Context, ch string) error {
	if err := b.block(ctx, "unsubscribe", ch); err != nil {
		return err
	}
	return b.Broker.Unsubscribe(ctx, ch)
}

// sameShard finds a channel other than name in name's shard.
func sameShard(t *testing.T, h *hub.Hub, name string) string {
	t.Helper()
	for i := range 100_000 {
		other := "other" + strconv.Itoa(i)
		if hub.SameShard(h, name, other) {
			return other
		}
	}
	t.Fatal("no channel shares a shard with " + name)
	return ""
}

// answers runs f and fails t unless it returns within within: it must not
// hang on the stalled broker.
func answers(t *testing.T, what string, within time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("%s: no answer within %v", what, within)
		return nil
	}
}

func (b *stalledBroker) waitEntered(t *testing.T, op string) {
	t.Helper()
	select {
	case got := <-b.entered:
		if got != op {
			t.Fatalf("broker entered %s, want %s", got, op)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("broker %s was not called", op)
	}
}

// TestStalledSubscribeStallsOnlyItsChannel: while the broker does not
// answer a Subscribe, another session's subscribe to another channel of the
// same shard is answered at once, and so are its publish and history.
func TestStalledSubscribeStallsOnlyItsChannel(t *testing.T) {
	b := newStalledBroker("slow")
	defer close(b.release)
	h := transporttest.RunHub(t, hub.Config{Broker: b, BrokerTimeout: time.Minute})
	other := sameShard(t, h, "slow")

	a := newSession(t, h, &testEncoder{})
	stuck := make(chan error, 1)
	go func() {
		_, err := a.Subscribe(context.Background(), "slow", hub.SubscribeOptions{})
		stuck <- err
	}()
	b.waitEntered(t, "subscribe")

	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	err := answers(t, "subscribe to "+other, 3*time.Second, func() error {
		_, err := s.Subscribe(context.Background(), other, hub.SubscribeOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", other, err)
	}
	if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: other, Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if p := d.next(t); p.Channel != other {
		t.Fatalf("got a publication of %q", p.Channel)
	}
	// Leaving the channel while the other's Subscribe is stuck is prompt too.
	if err := answers(t, "unsubscribe "+other, 3*time.Second, func() error { return s.Unsubscribe(other) }); err != nil {
		t.Fatal(err)
	}

	b.release <- struct{}{} // not closed: one Subscribe goes through
	select {
	case err := <-stuck:
		if err != nil {
			t.Fatalf("the stalled subscribe, once released: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled subscribe did not return once released")
	}
}

// TestStalledSubscribeTimesOut: a broker that does not answer a Subscribe
// within BrokerTimeout fails it, for every subscriber waiting on it, with
// stream.ErrUnavailable (503/117), not an internal error or silence.
func TestStalledSubscribeTimesOut(t *testing.T) {
	b := newStalledBroker("slow")
	defer close(b.release)
	h := transporttest.RunHub(t, hub.Config{Broker: b, BrokerTimeout: 200 * time.Millisecond})
	errs := make(chan error, 2)
	for range 2 {
		s := newSession(t, h, &testEncoder{})
		go func() {
			_, err := s.Subscribe(context.Background(), "slow", hub.SubscribeOptions{})
			errs <- err
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, stream.ErrUnavailable) {
				t.Fatalf("subscribe on a stalled broker: %v, want ErrUnavailable", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("subscribe on a stalled broker did not fail within 5s")
		}
	}
	if n := len(h.Channels()); n != 0 {
		t.Fatalf("%d channels left behind by failed subscribes", n)
	}
}

// TestSessionEndCancelsSubscribe: ending a session ends its subscribe that
// waits for the broker, whatever context the transport gave it.
func TestSessionEndCancelsSubscribe(t *testing.T) {
	b := newStalledBroker("slow")
	defer close(b.release)
	h := transporttest.RunHub(t, hub.Config{Broker: b, BrokerTimeout: time.Minute})
	s := newSession(t, h, &testEncoder{})
	errs := make(chan error, 1)
	go func() {
		_, err := s.Subscribe(context.Background(), "slow", hub.SubscribeOptions{})
		errs <- err
	}()
	b.waitEntered(t, "subscribe")
	s.Disconnect(stream.ErrShutdown)
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("subscribe of an ended session succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ending the session did not end its subscribe")
	}
	// Close does not wait for the broker either.
	if err := answers(t, "close", 3*time.Second, func() error { s.Close(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestRejoinWaitsForUnsubscribe: a channel left and joined again while the
// broker has not answered the Unsubscribe is subscribed again only after
// it, so the node ends up subscribed.
func TestRejoinWaitsForUnsubscribe(t *testing.T) {
	b := newStalledBroker("ch")
	h := transporttest.RunHub(t, hub.Config{Broker: b, BrokerTimeout: time.Minute})
	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	done := make(chan error, 1)
	go func() {
		_, err := s.Subscribe(context.Background(), "ch", hub.SubscribeOptions{})
		done <- err
	}()
	b.waitEntered(t, "subscribe")
	b.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe("ch"); err != nil {
		t.Fatal(err)
	}
	b.waitEntered(t, "unsubscribe")
	go func() {
		_, err := s.Subscribe(context.Background(), "ch", hub.SubscribeOptions{})
		done <- err
	}()
	// The Unsubscribe goes through first, then the new Subscribe.
	b.release <- struct{}{}
	b.waitEntered(t, "subscribe")
	close(b.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: "ch", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if p := d.next(t); p.Channel != "ch" {
		t.Fatalf("got a publication of %q", p.Channel)
	}
}
