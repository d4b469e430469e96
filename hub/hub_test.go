package hub_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

func TestLiveDeliveryEncodesOnce(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	enc := &testEncoder{}
	var drains []*drain
	for i := 0; i < 100; i++ {
		s := newSession(t, h, enc)
		if _, err := s.Subscribe(context.Background(), "room", hub.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
		drains = append(drains, startDrain(s))
	}
	transporttest.PublishN(t, h, "room", 10)
	for _, d := range drains {
		for want := uint64(1); want <= 10; want++ {
			if p := d.next(t); p.Offset != want {
				t.Fatalf("offset %d, want %d", p.Offset, want)
			}
		}
	}
	if n := enc.publications.Load(); n != 10 {
		t.Errorf("encoder called %d times for 10 publications to 100 subscribers, want 10", n)
	}
}

func TestSubscribeReplyPrecedesReplay(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	res := transporttest.PublishN(t, h, "chat:x", 5)
	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	r, err := s.Subscribe(context.Background(), "chat:x", hub.SubscribeOptions{
		Since: &stream.Position{Epoch: res[0].Epoch, Offset: 2},
		Reply: func(r hub.SubscribeResult) []byte { return []byte("reply") },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Recovered || r.Replayed != 3 || r.Latest.Offset != 5 {
		t.Fatalf("result %+v, want recovered with 3 replayed and latest 5", r)
	}
	first := <-d.items
	if string(first.Bytes) != "reply" {
		t.Fatalf("first item %q, want the reply", first.Bytes)
	}
	for want := uint64(3); want <= 5; want++ {
		if p := d.next(t); p.Offset != want {
			t.Fatalf("offset %d, want %d", p.Offset, want)
		}
	}
	transporttest.PublishN(t, h, "chat:x", 1)
	if p := d.next(t); p.Offset != 6 {
		t.Fatalf("live offset %d, want 6", p.Offset)
	}
}

// TestNotRecovered runs each case in a synctest bubble, so that a
// subscription that does not recover is seen to replay nothing at all.
func TestNotRecovered(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{HistorySize: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		offset uint64
		epoch  string // "" for the channel's
		ok     bool
	}{
		{"older than history", 1, "", false},
		{"edge of history", 5, "", true},
		{"up to date", 10, "", true},
		{"ahead of the channel", 11, "", false},
		{"other epoch", 9, "gone", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := transporttest.RunHub(t, hub.Config{Namespaces: ns})
				res := transporttest.PublishN(t, h, "short", 10)
				since := stream.Position{Epoch: cmp.Or(tc.epoch, res[0].Epoch), Offset: tc.offset}
				s := newSession(t, h, &testEncoder{})
				d := startDrain(s)
				r, err := s.Subscribe(context.Background(), "short", hub.SubscribeOptions{Since: &since})
				if err != nil {
					t.Fatal(err)
				}
				if r.Recovered != tc.ok {
					t.Fatalf("recovered %v, want %v", r.Recovered, tc.ok)
				}
				if !tc.ok {
					if r.Replayed != 0 {
						t.Fatalf("replayed %d publications without recovering", r.Replayed)
					}
					d.none(t, isPub)
					return
				}
				for want := since.Offset + 1; want <= 10; want++ {
					if p := d.next(t); p.Offset != want {
						t.Fatalf("offset %d, want %d", p.Offset, want)
					}
				}
			})
		})
	}
}

func TestSlowConsumerDoesNotHoldOthers(t *testing.T) {
	// The slow session's items are 100 bytes, the fast one's 1 to 3, so
	// only the slow one can overflow 1000 bytes, however the drain lags.
	h := transporttest.RunHub(t, hub.Config{QueueLimit: 1000})
	slow := newSession(t, h, bigEncoder{})
	fast := newSession(t, h, &testEncoder{})
	for _, s := range []*hub.Session{slow, fast} {
		if _, err := s.Subscribe(context.Background(), "feed", hub.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	d := startDrain(fast)
	transporttest.PublishN(t, h, "feed", 100) // slow never drains
	if err := waitDone(t, slow); !errors.Is(err, stream.ErrSlowConsumer) {
		t.Fatalf("slow session ended with %v, want ErrSlowConsumer", err)
	}
	for want := uint64(1); want <= 100; want++ {
		if p := d.next(t); p.Offset != want {
			t.Fatalf("fast subscriber got %d, want %d", p.Offset, want)
		}
	}
	if h.Stats().QueueDrops != 1 {
		t.Errorf("queue drops %d, want 1", h.Stats().QueueDrops)
	}
}

// TestUnsubscribe runs in a synctest bubble, so that nothing at all is
// seen to arrive after the unsubscribe.
func TestUnsubscribe(t *testing.T) {
	synctest.Test(t, testUnsubscribe)
}

func testUnsubscribe(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	s := newSession(t, h, &testEncoder{})
	d := startDrain(s)
	if _, err := s.Subscribe(context.Background(), "a", hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	transporttest.PublishN(t, h, "a", 1)
	d.next(t)
	if err := s.Unsubscribe("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe("a"); !errors.Is(err, stream.ErrNotSubscribed) {
		t.Fatalf("second unsubscribe: %v, want ErrNotSubscribed", err)
	}
	transporttest.PublishN(t, h, "a", 1)
	d.none(t, isPub)
	if len(h.Channels()) != 0 {
		t.Errorf("channels %v after the last subscriber left", h.Channels())
	}
}

type denyPolicy struct{}

func (denyPolicy) Allow(id *stream.Identity, a stream.Action, ch string, _ *stream.Namespace) error {
	if strings.HasPrefix(ch, "admin:") || strings.HasPrefix(ch, "secret:") {
		return fmt.Errorf("%w: %s %s", stream.ErrPermissionDenied, a, ch)
	}
	return nil
}

func TestSubscribeErrors(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "admin"}, {Name: "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{Namespaces: ns, Policy: denyPolicy{}, MaxChannels: 2})
	s := newSession(t, h, &testEncoder{})
	ctx := context.Background()
	for _, tc := range []struct {
		channel string
		want    error
	}{
		{"admin:x", stream.ErrPermissionDenied},
		{"bad name!", stream.ErrInvalidChannel},
		{"", stream.ErrInvalidChannel},
		{"nowhere:x", stream.ErrUnknownChannel},
	} {
		if _, err := s.Subscribe(ctx, tc.channel, hub.SubscribeOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("subscribe %q: %v, want %v", tc.channel, err, tc.want)
		}
	}
	if _, err := s.Subscribe(ctx, "chat:1", hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, "chat:1", hub.SubscribeOptions{}); !errors.Is(err, stream.ErrAlreadySubscribed) {
		t.Errorf("double subscribe: %v", err)
	}
	if _, err := s.Subscribe(ctx, "chat:2", hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, "chat:3", hub.SubscribeOptions{}); !errors.Is(err, stream.ErrLimitExceeded) {
		t.Errorf("third channel: %v, want ErrLimitExceeded", err)
	}
	if _, err := s.Publish(ctx, "admin:x", []byte(`1`), ""); !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("publish to admin: %v", err)
	}
}

// TestErrorsWrappedOnce: an error names its operation and channel once,
// where it happened (here the broker, or the hub for presence that is
// off), however many layers it crosses.
func TestErrorsWrappedOnce(t *testing.T) {
	h := presenceHub(t, hub.Config{})
	s := newSession(t, h, &testEncoder{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	once := func(op string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", op, err, want)
			return
		}
		prefix := op + ` "`
		if msg := err.Error(); !strings.HasPrefix(msg, prefix) || strings.Count(msg, prefix) != 1 {
			t.Errorf("%s: %q, want the operation and channel named once, first", op, msg)
		}
	}
	_, err := h.Publish(ctx, stream.PublishRequest{Channel: "chat:w", Data: []byte(`1`)})
	once("publish", err, context.Canceled)
	_, err = s.Publish(ctx, "chat:w", []byte(`1`), "")
	once("publish", err, context.Canceled)
	_, err = h.History(ctx, "chat:w", stream.HistoryQuery{})
	once("history", err, context.Canceled)
	_, err = h.HistoryAs(ctx, stream.Identity{}, "chat:w", stream.HistoryQuery{})
	once("history", err, context.Canceled)
	_, err = s.History(ctx, "chat:w", stream.HistoryQuery{})
	once("history", err, context.Canceled)
	_, err = s.Subscribe(ctx, "chat:w", hub.SubscribeOptions{})
	once("subscribe", err, context.Canceled)
	_, err = s.Presence(ctx, "plain:w")
	once("presence", err, stream.ErrFeatureOff)
}

func TestPublishValidation(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{MaxMessageSize: 16})
	ctx := context.Background()
	for _, tc := range []struct {
		data string
		want error
	}{
		{`{"a":"0123456789abcdef"}`, stream.ErrMessageTooLarge},
		{`{not json`, stream.ErrBadRequest},
		{``, stream.ErrBadRequest},
	} {
		if _, err := h.Publish(ctx, stream.PublishRequest{Channel: "c", Data: []byte(tc.data)}); !errors.Is(err, tc.want) {
			t.Errorf("publish %q: %v, want %v", tc.data, err, tc.want)
		}
	}
	a, err := h.Publish(ctx, stream.PublishRequest{Channel: "c", Data: []byte(`1`), Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Publish(ctx, stream.PublishRequest{Channel: "c", Data: []byte(`1`), Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Duplicate || b.Position != a.Position {
		t.Errorf("repeat key: %+v, want duplicate of %+v", b, a)
	}
}

func TestConnectionLimit(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{MaxConnections: 2})
	newSession(t, h, &testEncoder{})
	s := newSession(t, h, &testEncoder{})
	if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}}); !errors.Is(err, stream.ErrConnectionLimit) {
		t.Fatalf("third session: %v, want ErrConnectionLimit", err)
	}
	s.Close()
	if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}}); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}

// The heartbeat tests run in a synctest bubble: the hub's ticker runs on
// the bubble's clock, so a ping interval passes the moment every goroutine
// is waiting, and no test waits in real time.

func TestPingAndPong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 160 * time.Millisecond
		h := transporttest.RunHub(t, hub.Config{PingInterval: interval})
		enc := &testEncoder{ping: []byte("ping")}
		start := time.Now()
		silent, err := h.NewSession(hub.SessionOptions{Encoder: enc, RequirePong: true})
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		dropped := make(chan time.Time, 1)
		go func() {
			<-silent.Done()
			dropped <- time.Now()
		}()
		alive, err := h.NewSession(hub.SessionOptions{Encoder: enc, RequirePong: true})
		if err != nil {
			t.Fatal(err)
		}
		defer alive.Close()
		d := startDrain(alive)
		pings := 0
		deadline := time.After(10 * interval)
		for pings < 4 {
			select {
			case it := <-d.items:
				if string(it.Bytes) == "ping" {
					pings++
					alive.Pong()
				}
			case <-deadline:
				t.Fatalf("%d pings in ten intervals, want 4", pings)
			}
		}
		if err := waitDone(t, silent); !errors.Is(err, stream.ErrNoPong) {
			t.Fatalf("silent session: %v, want ErrNoPong", err)
		}
		// Dropped when the ping after its unanswered one was due: after one
		// interval, within two.
		if took := (<-dropped).Sub(start); took <= interval || took > 2*interval {
			t.Errorf("silent session dropped after %v, want within (%v, %v]", took, interval, 2*interval)
		}
		synctest.Wait()
		select {
		case <-alive.Done():
			t.Fatalf("answering session dropped: %v", alive.Cause())
		default:
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 160 * time.Millisecond
		h := transporttest.RunHub(t, hub.Config{PingInterval: interval})
		expires := time.Now().Add(100 * time.Millisecond)
		s, err := h.NewSession(hub.SessionOptions{
			Encoder:  &testEncoder{},
			Identity: stream.Identity{User: "ann", ExpiresAt: expires},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := waitDone(t, s); !errors.Is(err, stream.ErrTokenExpired) {
			t.Fatalf("ended with %v, want ErrTokenExpired", err)
		}
		// Expiry is checked on every tick of the heartbeat.
		if late := time.Since(expires); late < 0 || late > interval/16 {
			t.Errorf("ended %v after the token expired, want within one tick (%v)", late, interval/16)
		}
		// A refreshed token keeps another session alive.
		r, err := h.NewSession(hub.SessionOptions{
			Encoder:  &testEncoder{},
			Identity: stream.Identity{User: "ann", ExpiresAt: time.Now().Add(100 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Refresh(stream.Identity{User: "bob"}); !errors.Is(err, stream.ErrInvalidToken) {
			t.Fatalf("refresh as another user: %v", err)
		}
		if err := r.Refresh(stream.Identity{User: "ann", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // well past the 100ms it had
		synctest.Wait()
		select {
		case <-r.Done():
			t.Fatalf("refreshed session ended: %v", r.Cause())
		default:
		}
	})
}

func TestDisconnectUser(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	var ann []*hub.Session
	for i := 0; i < 3; i++ {
		s, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: stream.Identity{User: "ann"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ann = append(ann, s)
	}
	other := newSession(t, h, &testEncoder{})
	if n := h.DisconnectUser("ann", stream.ErrForceDisconnect); n != 3 {
		t.Fatalf("disconnected %d, want 3", n)
	}
	for _, s := range ann {
		if err := waitDone(t, s); !errors.Is(err, stream.ErrForceDisconnect) {
			t.Fatalf("cause %v", err)
		}
	}
	select {
	case <-other.Done():
		t.Fatal("another user's session ended")
	default:
	}
}

func TestShutdownSpreadsDisconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := transporttest.RunHub(t, hub.Config{})
		const n = 10
		ended := make(chan time.Time, n)
		for i := 0; i < n; i++ {
			s, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				<-s.Done()
				if !errors.Is(s.Cause(), stream.ErrShutdown) {
					t.Errorf("cause %v, want ErrShutdown", s.Cause())
				}
				ended <- time.Now()
				s.Close()
			}()
		}
		const drain = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := h.Shutdown(ctx, drain); err != nil {
			t.Fatal(err)
		}
		// The bubble's clock makes the pacing exact: one disconnect every
		// drain/n, the first at once.
		for i := 0; i < n; i++ {
			if at, want := (<-ended).Sub(start), drain*time.Duration(i)/n; at != want {
				t.Errorf("disconnect %d at %v, want %v", i, at, want)
			}
		}
		if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}}); !errors.Is(err, stream.ErrShutdown) {
			t.Errorf("new session after shutdown: %v", err)
		}
	})
}

func TestCommandRate(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{CommandRate: 1, CommandBurst: 5})
	s := newSession(t, h, &testEncoder{})
	allowed := 0
	for i := 0; i < 20; i++ {
		if s.Allow() {
			allowed++
		}
	}
	if allowed < 5 || allowed > 6 {
		t.Errorf("allowed %d of 20 at once with burst 5", allowed)
	}
}

type bigEncoder struct{}

func (bigEncoder) Publication(*stream.Publication) []byte           { return make([]byte, 100) }
func (bigEncoder) Ping() []byte                                     { return nil }
func (bigEncoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }
func (bigEncoder) Gap(*hub.Gap) []byte                              { return []byte("gap") }
func (bigEncoder) Unsubscribed(string, error) []byte                { return []byte("unsubscribed") }

func TestPublishAs(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{Namespaces: ns, Policy: denyPolicy{}})
	ctx := context.Background()
	if _, err := h.PublishAs(ctx, stream.Identity{User: "ann"}, stream.PublishRequest{Channel: "admin:x", Data: []byte(`1`)}); !errors.Is(err, stream.ErrPermissionDenied) {
		t.Fatalf("publish to admin: %v", err)
	}
	if _, err := h.PublishAs(ctx, stream.Identity{User: "ann"}, stream.PublishRequest{Channel: "news", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	page, err := h.History(ctx, "news", stream.HistoryQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Publications) != 1 || page.Publications[0].Info == nil || page.Publications[0].Info.User != "ann" {
		t.Fatalf("history %+v", page.Publications)
	}
}
