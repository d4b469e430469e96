package ws_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

func presenceNode(t *testing.T) *node {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Presence: true, JoinLeave: true}, {Name: "news"}, {Name: "admin", Presence: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, hub.Config{Namespaces: ns, Presence: memory.NewPresence(memory.PresenceConfig{})}, ws.Config{})
}

// nextOf reads frames until one of type typ, skipping pings and messages.
func (c *client) nextOf(typ string) protocol.Frame {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == typ {
			return f
		}
		if f.Type != "ping" && f.Type != "message" {
			c.t.Fatalf("got %+v while waiting for %s", f, typ)
		}
	}
}

func TestPresenceCommandAndPushes(t *testing.T) {
	n := presenceNode(t)
	a := connected(t, n)
	b := dial(t, n, nil)
	fb := b.call(protocol.Command{Type: "connect", Token: "good:bob"})
	if fb.Error != nil {
		t.Fatalf("connect: %+v", fb)
	}

	if f := a.call(protocol.Command{Type: "subscribe", Channel: "chat:lobby"}); f.Error != nil {
		t.Fatalf("subscribe: %+v", f)
	}
	self := a.nextOf("join")
	if self.Channel != "chat:lobby" || self.Client == "" || self.User != "" {
		t.Fatalf("own join %+v", self)
	}
	if f := b.call(protocol.Command{Type: "subscribe", Channel: "chat:lobby"}); f.Error != nil {
		t.Fatalf("subscribe: %+v", f)
	}
	j := a.nextOf("join")
	if j.Client != fb.Client || j.User != "bob" || j.Channel != "chat:lobby" {
		t.Fatalf("join push %+v, want client %s user bob", j, fb.Client)
	}

	p := a.call(protocol.Command{Type: "presence", Channel: "chat:lobby"})
	if p.Error != nil || p.Channel != "chat:lobby" || len(p.Clients) != 2 {
		t.Fatalf("presence reply %+v", p)
	}
	users := map[string]string{}
	for _, ci := range p.Clients {
		users[ci.Client] = ci.User
	}
	if users[fb.Client] != "bob" || users[self.Client] != "" {
		t.Errorf("presence clients %+v", p.Clients)
	}

	if f := b.call(protocol.Command{Type: "unsubscribe", Channel: "chat:lobby"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	l := a.nextOf("leave")
	if l.Client != fb.Client || l.User != "bob" {
		t.Fatalf("leave push %+v", l)
	}

	// Presence off: code 108; refused: 103; bad name: 111 (the shared table).
	wantError(t, a.call(protocol.Command{Type: "presence", Channel: "news:x"}), 108)
	wantError(t, a.call(protocol.Command{Type: "presence", Channel: "admin:x"}), 103)
	wantError(t, a.call(protocol.Command{Type: "presence", Channel: "bad name"}), 111)
}

func TestPresenceWithoutBackend(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	c := connected(t, n)
	wantError(t, c.call(protocol.Command{Type: "presence", Channel: "chat:lobby"}), 108)
}
