package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

func TestPublish(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:pub", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		ctx := t.Context()

		pos, err := c.Publish(ctx, "chat:pub", map[string]string{"text": "hi"}, client.PublishOptions{})
		if err != nil || pos.Offset != 1 {
			t.Fatalf("Publish = %+v, %v", pos, err)
		}
		if got := expectOffsets(t, sub, 1, 1); string(got[0].Data) != `{"text":"hi"}` {
			t.Errorf("data %s", got[0].Data)
		}
		raw, err := c.Publish(ctx, "chat:pub", json.RawMessage(`[1, 2]`), client.PublishOptions{})
		if err != nil || raw.Offset != 2 {
			t.Fatalf("Publish raw = %+v, %v", raw, err)
		}
		expectOffsets(t, sub, 2, 2)

		// The same key twice is one publication.
		first, err := c.Publish(ctx, "chat:pub", "once", client.PublishOptions{Key: "k-1"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Publish(ctx, "chat:pub", "once", client.PublishOptions{Key: "k-1"})
		if err != nil || again != first {
			t.Fatalf("repeat = %+v, %v; want %+v", again, err, first)
		}
		expectOffsets(t, sub, 3, 3)
		noEvent(t, sub, 100*time.Millisecond)

		// Refusals that will not pass are not retried.
		if _, err := c.Publish(ctx, "plain", 1, client.PublishOptions{}); !errors.Is(err, stream.ErrPermissionDenied) {
			t.Errorf("Publish to a namespace closed to clients: %v", err)
		}
		if _, err := c.Publish(ctx, "chat:pub", json.RawMessage(`{`), client.PublishOptions{}); !errors.Is(err, stream.ErrBadRequest) {
			t.Errorf("Publish of bad JSON: %v", err)
		}
		if _, err := c.Publish(ctx, "bad name", 1, client.PublishOptions{}); !errors.Is(err, stream.ErrInvalidChannel) {
			t.Errorf("Publish to a bad name: %v", err)
		}
	})
}

// TestPublishAnswerLost: the node publishes but its answer never reaches
// the client. The client retries with the key it drew, and the node answers
// with the first publication instead of making a second.
func TestPublishAnswerLost(t *testing.T) {
	for _, tr := range []client.Transport{client.SSE, client.LongPoll, client.ShortPoll, client.GRPC} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			n.gate.losePublish.Store(2)
			c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
			c.run(t)
			pos, err := c.Publish(t.Context(), "chat:lost", "hello", client.PublishOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := n.gate.published.Load(); got != 3 {
				t.Errorf("%d attempts reached the node, want 3", got)
			}
			if h := n.history(t, "chat:lost"); len(h) != 1 || h[0].Offset != pos.Offset {
				t.Fatalf("history holds %d publications, want the one at %+v", len(h), pos)
			}
		})
	}
}

// TestPublishThroughDeadConnection publishes into a WebSocket whose network
// froze: the attempt times out, the client notices the connection is dead,
// reconnects, and the retry lands once.
func TestPublishThroughDeadConnection(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{
		Transports:     []client.Transport{client.WebSocket},
		PingGrace:      300 * time.Millisecond,
		RequestTimeout: 500 * time.Millisecond,
	})
	c.run(t)
	c.states.wait(t, 0, "connected", connectedOver(client.WebSocket))
	thaw := n.proxy.Freeze()
	defer thaw()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pos, err := c.Publish(ctx, "chat:frozen", "hello", client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	thaw() // what the frozen connection held reaches the node now, if anything
	if c.states.count(isDisconnected) == 0 {
		t.Error("the publish went through without a reconnection")
	}
	next, err := c.Publish(ctx, "chat:frozen", "after", client.PublishOptions{})
	if err != nil || next.Offset != pos.Offset+1 {
		t.Fatalf("next publish = %+v, %v; want offset %d", next, err, pos.Offset+1)
	}
	if h := n.history(t, "chat:frozen"); len(h) != 2 {
		t.Fatalf("history holds %d publications, want 2", len(h))
	}
}

// TestPublishWaitsForRun: a Publish made before Run waits for it.
func TestPublishWaitsForRun(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.WebSocket}})
	done := make(chan error, 1)
	go func() {
		_, err := c.Publish(t.Context(), "chat:early", 1, client.PublishOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Publish returned before Run: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.run(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	for _, d := range []string{"1", "2", "3"} {
		n.publish(t, "chat:h", d)
	}
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.WebSocket}})
	c.run(t)
	h, err := c.History(t.Context(), "chat:h", client.HistoryOptions{Since: &stream.Position{Epoch: n.history(t, "chat:h")[0].Epoch, Offset: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Publications) != 2 || h.Publications[0].Offset != 2 || h.Latest.Offset != 3 {
		t.Errorf("History = %d publications from %d, latest %+v", len(h.Publications), h.Publications[0].Offset, h.Latest)
	}
	if _, err := c.History(t.Context(), "closed:x", client.HistoryOptions{}); !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("History of a closed namespace: %v", err)
	}

	// Off a WebSocket, History asks GET /connection/history (over gRPC, the
	// client service's History call): after a
	// fallback, and on a client that never tries a WebSocket.
	epoch := h.Latest.Epoch
	for _, tr := range []client.Transport{client.SSE, client.LongPoll, client.GRPC} {
		c := n.newClient(t, client.Options{Transports: []client.Transport{client.WebSocket, tr}})
		n.gate.set(pathWS, "refuse")
		c.run(t)
		c.states.wait(t, 0, "connected over "+string(tr), connectedOver(tr))
		n.gate.set(pathWS, "")
		only := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		only.run(t)
		for _, c := range []*testClient{c, only} {
			h, err := c.History(t.Context(), "chat:h", client.HistoryOptions{Since: &stream.Position{Epoch: epoch, Offset: 1}})
			if err != nil || len(h.Publications) != 2 || h.Publications[0].Offset != 2 || string(h.Publications[1].Data) != "3" ||
				h.Publications[1].Channel != "chat:h" || h.Publications[1].Epoch != epoch || h.Latest != (stream.Position{Epoch: epoch, Offset: 3}) {
				t.Fatalf("History over %s = %+v, %v", tr, h, err)
			}
			h, err = c.History(t.Context(), "chat:h", client.HistoryOptions{Limit: 2, Reverse: true})
			if err != nil || len(h.Publications) != 2 || h.Publications[0].Offset != 3 || h.Publications[1].Offset != 2 {
				t.Errorf("reverse History over %s = %+v, %v", tr, h, err)
			}
			if _, err := c.History(t.Context(), "closed:x", client.HistoryOptions{}); !errors.Is(err, stream.ErrPermissionDenied) {
				t.Errorf("History of a closed namespace over %s: %v", tr, err)
			}
			if _, err := c.History(t.Context(), "chat:h", client.HistoryOptions{Limit: 5000}); !errors.Is(err, stream.ErrBadRequest) {
				t.Errorf("History with too large a limit over %s: %v", tr, err)
			}
		}
	}
}
