package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// TestInvalidTokenStops: a token the node refuses would be refused again,
// so Run returns instead of reconnecting, and subscriptions end.
func TestInvalidTokenStops(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		bad, err := auth.MintHMAC([]byte("another-secret-another-secret-xx"), "", auth.Claims{Subject: "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}, Token: bad})
		sub, _ := c.Subscribe("chat:x", client.SubscribeOptions{})
		c.run(t)
		err = c.runErr(t)
		if !errors.Is(err, stream.ErrUnauthorized) {
			t.Fatalf("Run = %v, want unauthorized", err)
		}
		if ev, ok := next(t, sub).(client.Unsubscribed); !ok || !errors.Is(ev.Err, client.ErrClosed) {
			t.Errorf("subscription after Run: %#v", ev)
		}
		if s := c.State(); s.Status != client.Disconnected || !errors.Is(s.Err, stream.ErrUnauthorized) {
			t.Errorf("State() = %v", s)
		}
		if _, err := c.Publish(t.Context(), "chat:x", 1, client.PublishOptions{}); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Publish after Run: %v", err)
		}
		if _, err := c.Subscribe("chat:y", client.SubscribeOptions{}); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Subscribe after Run: %v", err)
		}
	})
}

// TestReconnectFalseStops: the application disconnects the user; the node
// says not to reconnect, and the client obeys. Polling has no connection to
// carry that news: the node ends the poll in flight and answers the next.
func TestReconnectFalseStops(t *testing.T) {
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.GRPC} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			c := n.newClient(t, client.Options{Transports: []client.Transport{tr}, Token: token(t, "alice", time.Hour)})
			sub, _ := c.Subscribe("chat:x", client.SubscribeOptions{})
			c.run(t)
			subscribed(t, sub)
			if n.hub.DisconnectUser("alice", stream.ErrForceDisconnect) != 1 {
				t.Fatal("alice had no session")
			}
			err := c.runErr(t)
			d, ok := errors.AsType[protocol.Disconnect](err)
			if !ok || d.Code != 3502 || d.Reconnect {
				t.Fatalf("Run = %v, want disconnect 3502 without reconnect", err)
			}
			if c.states.count(connectedOver(tr)) != 1 {
				t.Errorf("reconnected after reconnect:false: %v", c.states.snapshot())
			}
		})
	}
}

// TestTokenRefresh gives the client a token that expires in a second or
// two: the node ends the session (or refuses the next poll), the client asks
// GetToken for a new one and resumes without losing a publication.
func TestTokenRefresh(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		var calls atomic.Int32
		getToken := func(ctx context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return token(t, "bob", 1500*time.Millisecond), nil
			}
			return token(t, "bob", time.Hour), nil
		}
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}, GetToken: getToken})
		sub, _ := c.Subscribe("chat:tok", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		n.publish(t, "chat:tok", "1")
		expectOffsets(t, sub, 1, 1)

		// Publications keep the connection busy while the token runs out.
		testkit.Eventually(t, "GetToken to be called again after the token expired", func() bool {
			if calls.Load() >= 2 {
				return true
			}
			n.publish(t, "chat:tok", `"more"`)
			return false
		})
		last := n.publish(t, "chat:tok", `"last"`)
		expectOffsets(t, sub, 2, last.Offset)
		if got := calls.Load(); got != 2 {
			t.Errorf("GetToken called %d times, want 2", got)
		}
		if s := c.State(); s.Status != client.Connected {
			t.Errorf("State() = %v", s)
		}
	})
}

// TestExpiredTokenWithoutRenewal: a fixed token that expires cannot be
// renewed, so Run stops and says why.
func TestExpiredTokenWithoutRenewal(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.WebSocket}, Token: token(t, "carol", 1200*time.Millisecond)})
	sub, _ := c.Subscribe("chat:x", client.SubscribeOptions{})
	c.run(t)
	subscribed(t, sub)
	if err := c.runErr(t); !errors.Is(err, stream.ErrTokenExpired) {
		t.Fatalf("Run = %v, want token expired", err)
	}
}
