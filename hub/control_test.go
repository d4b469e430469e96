package hub_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// issuedSession opens a session of user whose token was issued at iat.
func issuedSession(t *testing.T, h *hub.Hub, user string, iat time.Time) *hub.Session {
	t.Helper()
	s, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: stream.Identity{User: user, IssuedAt: iat}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// The control tests run in a synctest bubble: synctest.Wait returns once
// every node's Run listens, or once a message reached every node, with no
// polling; DisconnectTTL passes on the bubble's clock.

func TestDisconnectUserEverywhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The memory broker links no nodes, but one memory Control links
		// the hubs of a process.
		control := memory.NewControl()
		a := transporttest.RunHub(t, hub.Config{Control: control})
		b := transporttest.RunHub(t, hub.Config{Control: control})
		before := time.Now().Add(-time.Minute)

		onA := issuedSession(t, a, "ann", before)
		onB := issuedSession(t, b, "ann", before)
		bob := issuedSession(t, b, "bob", before)
		synctest.Wait() // both nodes listen

		n, err := a.DisconnectUserEverywhere(context.Background(), "ann")
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("disconnected %d on this node, want 1", n)
		}
		if err := waitDone(t, onA); !errors.Is(err, stream.ErrForceDisconnect) {
			t.Fatalf("cause on A: %v", err)
		}
		synctest.Wait() // the message reached B
		select {
		case <-onB.Done():
			if !errors.Is(onB.Cause(), stream.ErrForceDisconnect) {
				t.Fatalf("cause on B: %v", onB.Cause())
			}
		default:
			t.Fatal("the other node's session is still there")
		}
		select {
		case <-bob.Done():
			t.Fatal("another user's session ended")
		default:
		}

		// Every node now refuses ann's older tokens, and tokens without
		// iat, everywhere a token is used.
		for _, h := range []*hub.Hub{a, b} {
			for _, id := range []stream.Identity{{User: "ann", IssuedAt: before}, {User: "ann"}} {
				if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: id}); !errors.Is(err, stream.ErrInvalidToken) {
					t.Fatalf("new session with an old token: %v", err)
				}
				if _, err := h.PublishAs(context.Background(), id, stream.PublishRequest{Channel: "x", Data: []byte("1")}); !errors.Is(err, stream.ErrInvalidToken) {
					t.Fatalf("publish with an old token: %v", err)
				}
				if _, err := h.HistoryAs(context.Background(), id, "x", stream.HistoryQuery{}); !errors.Is(err, stream.ErrInvalidToken) {
					t.Fatalf("history with an old token: %v", err)
				}
				if _, err := h.PresenceAs(context.Background(), id, "x"); !errors.Is(err, stream.ErrInvalidToken) {
					t.Fatalf("presence with an old token: %v", err)
				}
			}
		}

		// A token issued after the disconnect works, and cannot be
		// refreshed with an old one. Token times have whole seconds.
		after := time.Now().Add(time.Second)
		fresh := issuedSession(t, b, "ann", after)
		if err := fresh.Refresh(stream.Identity{User: "ann", IssuedAt: before}); !errors.Is(err, stream.ErrInvalidToken) {
			t.Fatalf("refresh with an old token: %v", err)
		}
		if _, err := b.PublishAs(context.Background(), stream.Identity{User: "ann", IssuedAt: after}, stream.PublishRequest{Channel: "x", Data: []byte("1")}); err != nil {
			t.Fatalf("publish with a fresh token: %v", err)
		}
		issuedSession(t, a, "bob", before)
	})
}

func TestDisconnectTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 100 * time.Millisecond
		h := transporttest.RunHub(t, hub.Config{Control: memory.NewControl(), DisconnectTTL: ttl})
		if _, err := h.DisconnectUserEverywhere(context.Background(), "ann"); err != nil {
			t.Fatal(err)
		}
		old := stream.Identity{User: "ann", IssuedAt: time.Now().Add(-time.Minute)}
		if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: old}); !errors.Is(err, stream.ErrInvalidToken) {
			t.Fatalf("new session with an old token: %v", err)
		}
		time.Sleep(ttl)
		if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: old}); !errors.Is(err, stream.ErrInvalidToken) {
			t.Fatalf("old token at DisconnectTTL: %v, want still refused", err)
		}
		time.Sleep(time.Millisecond)
		s, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: old})
		if err != nil {
			t.Fatalf("old token still refused after DisconnectTTL: %v", err)
		}
		s.Close()
	})
}

// downControl is a Control whose transport is away.
type downControl struct{}

func (downControl) Run(ctx context.Context, _ func([]byte)) error {
	<-ctx.Done()
	return nil
}

func (downControl) Publish(context.Context, []byte) error {
	return errors.New("connection refused")
}

func TestDisconnectUserEverywhereUnavailable(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{Control: downControl{}})
	before := time.Now().Add(-time.Minute)
	s := issuedSession(t, h, "ann", before)
	if _, err := h.DisconnectUserEverywhere(context.Background(), "ann"); !errors.Is(err, stream.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	select {
	case <-s.Done():
		t.Fatal("session ended though the order could not be sent")
	default:
	}
	issuedSession(t, h, "ann", before)
}

func TestDisconnectUserEverywhereWithoutControl(t *testing.T) {
	h := transporttest.RunHub(t, hub.Config{})
	s := issuedSession(t, h, "ann", time.Now().Add(-time.Minute))
	n, err := h.DisconnectUserEverywhere(context.Background(), "ann")
	if err != nil || n != 1 {
		t.Fatalf("n %d, err %v", n, err)
	}
	if err := waitDone(t, s); !errors.Is(err, stream.ErrForceDisconnect) {
		t.Fatalf("cause %v", err)
	}
	if _, err := h.NewSession(hub.SessionOptions{Encoder: &testEncoder{}, Identity: stream.Identity{User: "ann"}}); !errors.Is(err, stream.ErrInvalidToken) {
		t.Fatalf("new session without iat: %v", err)
	}
}
