package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// presenceNode is newNode with a hub that keeps presence in memory for
// the chat namespace (with join and leave events) and not for news.
func presenceNode(t *testing.T) *node {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Publish: stream.AccessAnyone, Presence: true, JoinLeave: true},
		{Name: "news"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return newNode(t, withHub(t, hub.Config{Namespaces: ns, Presence: memory.NewPresence(memory.PresenceConfig{})}))
}

func presenceBody(t *testing.T, r response) (string, []string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("presence: %d %s", r.Status, r.Body)
	}
	var body protocol.PresenceReply
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range body.Clients {
		out = append(out, c.Client+"/"+c.User)
	}
	slices.Sort(out)
	return body.Channel, out
}

func TestPresence(t *testing.T) {
	n := presenceNode(t)
	ws := n.dial(token(t, "alice"))
	connect := ws.call(map[string]any{"type": "presence", "channel": "news:x"})
	if e, _ := connect["error"].(map[string]any); e == nil || e["code"] != float64(108) {
		t.Fatalf("presence off: %v", connect)
	}
	ws.subscribe("chat:p")
	self := ws.read()
	if self["type"] != "join" || self["user"] != "alice" {
		t.Fatalf("own join %v", self)
	}
	me, _ := self["client"].(string)

	poll := n.do(http.MethodGet, "/connection/poll?channel=chat:p&timeout=0&client=poller-1", "", "")
	if poll.Status != http.StatusOK || poll.json(t)["client"] != "poller-1" {
		t.Fatalf("poll: %d %s", poll.Status, poll.Body)
	}
	if j := ws.read(); j["type"] != "join" || j["client"] != "poller-1" {
		t.Fatalf("the poller's join %v", j)
	}

	want := []string{me + "/alice", "poller-1/"}
	slices.Sort(want)
	ch, got := presenceBody(t, n.api(http.MethodGet, "/api/presence?channel=chat:p", ""))
	if ch != "chat:p" || !slices.Equal(got, want) {
		t.Errorf("/api/presence: %s %v, want %v", ch, got, want)
	}
	ch, got = presenceBody(t, n.do(http.MethodGet, "/connection/presence?channel=chat:p", "", ""))
	if ch != "chat:p" || !slices.Equal(got, want) {
		t.Errorf("/connection/presence: %s %v, want %v", ch, got, want)
	}
	r := ws.call(map[string]any{"type": "presence", "channel": "chat:p"})
	if clients, _ := r["clients"].([]any); len(clients) != 2 {
		t.Errorf("presence command: %v", r)
	}

	n.api(http.MethodGet, "/api/presence?channel=news:x", "").wantError(t, http.StatusNotFound, 108)
	n.do(http.MethodGet, "/connection/presence?channel=news:x", "", "").wantError(t, http.StatusNotFound, 108)
	n.do(http.MethodGet, "/connection/presence?channel=chat:p", "Bearer nope", "").wantError(t, http.StatusUnauthorized, 101)
}
