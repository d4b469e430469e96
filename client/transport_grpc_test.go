package client_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

// TestGRPCDeadStream freezes the network under a gRPC stream: no byte comes
// and nothing is closed. The missing pings give it away, and the client
// opens a new stream on a new connection — not on the frozen HTTP/2
// connection, which would take the call and never answer.
func TestGRPCDeadStream(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.GRPC}, PingGrace: 500 * time.Millisecond})
	sub, _ := c.Subscribe("chat:dead", client.SubscribeOptions{})
	c.run(t)
	subscribed(t, sub)
	n.publish(t, "chat:dead", "1")
	expectOffsets(t, sub, 1, 1)

	thaw := n.proxy.Freeze()
	defer thaw()
	s, i := c.states.wait(t, 0, "disconnected", isDisconnected)
	if !strings.Contains(fmt.Sprint(s.Err), "no ping") {
		t.Errorf("disconnected with %v, want a missing ping", s.Err)
	}
	n.publish(t, "chat:dead", "2")
	c.states.wait(t, i, "connected again", connectedOver(client.GRPC))
	n.publish(t, "chat:dead", "3")
	expectOffsets(t, sub, 2, 3)
}

// TestGRPCFallback: lists that hold grpc fall from it and to it. A node
// (or a proxy before it) that refuses, holds or cuts the Subscribe call
// sends the client on to the next transport, which delivers everything;
// a client whose WebSocket is refused settles on gRPC.
func TestGRPCFallback(t *testing.T) {
	tests := []struct {
		name  string
		list  []client.Transport
		block map[string]string
		want  client.Transport
	}{
		{"grpc refused", []client.Transport{client.GRPC, client.SSE}, map[string]string{pathGRPCSubscribe: "refuse"}, client.SSE},
		{"grpc hangs", []client.Transport{client.GRPC, client.SSE}, map[string]string{pathGRPCSubscribe: "hang"}, client.SSE},
		{"grpc cut", []client.Transport{client.GRPC, client.LongPoll}, map[string]string{pathGRPCSubscribe: "cut"}, client.LongPoll},
		{"websocket refused", []client.Transport{client.WebSocket, client.GRPC, client.SSE}, map[string]string{pathWS: "refuse"}, client.GRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fallsBackTo(t, tt.block, tt.list, tt.want)
		})
	}
}

// TestGRPCOnly: a client whose only transport is gRPC publishes, reads
// history and presence over the client service, also with no subscription
// open and with the node's HTTP client endpoints closed to it, as behind a
// gateway that passes gRPC only.
func TestGRPCOnly(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	for _, p := range []string{"/connection/publish", "/connection/history", "/connection/presence", pathSSE, pathPoll, pathWS} {
		n.gate.set(p, "refuse")
	}
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.GRPC}, Token: token(t, "ann", time.Hour)})
	c.run(t)
	c.states.wait(t, 0, "connected with no subscription", connectedOver(client.GRPC))

	ctx := t.Context()
	first, err := c.Publish(ctx, "room:a", map[string]int{"n": 1}, client.PublishOptions{Key: "k"})
	if err != nil || first.Offset != 1 {
		t.Fatalf("Publish = %+v, %v", first, err)
	}
	if again, err := c.Publish(ctx, "room:a", map[string]int{"n": 1}, client.PublishOptions{Key: "k"}); err != nil || again != first {
		t.Fatalf("Publish with the same key = %+v, %v; want %+v", again, err, first)
	}
	h, err := c.History(ctx, "room:a", client.HistoryOptions{})
	if err != nil || len(h.Publications) != 1 || string(h.Publications[0].Data) != `{"n":1}` || h.Latest != first {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h.Publications[0].Info == nil || h.Publications[0].Info.User != "ann" || h.Publications[0].Key != "k" {
		t.Errorf("the publication does not say who made it: %+v", h.Publications[0])
	}

	sub, _ := c.Subscribe("room:a", client.SubscribeOptions{Since: &stream.Position{Epoch: first.Epoch}})
	subscribed(t, sub)
	expectOffsets(t, sub, 1, 1)
	list := presenceOf(t, c.Client, "room:a", func(l []stream.ClientInfo) bool { return len(l) == 1 })
	if got := users(list); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("Presence = %v", got)
	}
	if _, err := c.Presence(ctx, "chat:none"); !errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Presence where it is off: %v", err)
	}
	if _, err := c.History(ctx, "room:a", client.HistoryOptions{Limit: -1}); !errors.Is(err, stream.ErrBadRequest) {
		t.Errorf("History with a negative limit: %v", err)
	}
}
