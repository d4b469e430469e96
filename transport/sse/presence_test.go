package sse_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// TestJoinLeaveEvents: an SSE stream on a channel with join and leave
// events gets them as named events whose data is the WebSocket push, which
// a plain onmessage handler never fires for; its own client is listed in
// presence for as long as the stream is open.
func TestJoinLeaveEvents(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "room", Presence: true, JoinLeave: true}})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{Namespaces: ns, Presence: memory.NewPresence(memory.PresenceConfig{})}, sse.Config{})
	a := n.open(t, "channel=room:1", nil)
	a.block() // retry
	me := clientOf(t, a.next().Data)
	if ev := a.next(); ev.Event != "join" {
		t.Fatalf("own join: %+v", ev)
	}

	b := n.open(t, "channel=room:1", http.Header{"Authorization": {"Bearer good:bob"}})
	b.block()
	other := clientOf(t, b.next().Data)

	check := func(kind string) {
		t.Helper()
		ev := a.next()
		if typ, ok := ev.Dispatched(); !ok || typ != kind || ev.HasID {
			t.Fatalf("%s event %+v fires as %q", kind, ev, typ)
		}
		var f struct {
			Type, Channel, Client, User string
		}
		if err := json.Unmarshal([]byte(ev.Data), &f); err != nil {
			t.Fatal(err)
		}
		if f.Type != kind || f.Channel != "room:1" || f.Client != other || f.User != "bob" {
			t.Fatalf("%s data %s, want client %s user bob", kind, ev.Data, other)
		}
	}
	check("join")

	list, err := n.Hub.Presence(t.Context(), "room:1")
	if err != nil || len(list) != 2 {
		t.Fatalf("presence %v, %v", list, err)
	}
	seen := map[string]bool{}
	for _, c := range list {
		seen[c.Client] = true
	}
	if !seen[me] || !seen[other] {
		t.Errorf("presence %v, want %s and %s", list, me, other)
	}

	b.close()
	check("leave")
}
