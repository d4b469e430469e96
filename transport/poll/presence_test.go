package poll_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func presenceNode(t *testing.T, ttl time.Duration) *node {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Presence: true, JoinLeave: true}, {Name: "news"}, {Name: "admin", Presence: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, hub.Config{
		Namespaces:  ns,
		Presence:    memory.NewPresence(memory.PresenceConfig{SweepInterval: 20 * time.Millisecond}),
		PresenceTTL: ttl,
	}, poll.Config{})
}

func (n *node) presence(t *testing.T, query string, edit ...func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url+"/connection/presence?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(req)
	}
	return n.do(t, req)
}

func presenceClients(t *testing.T, r response) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("presence: %d %s", r.status, r.body)
	}
	var body struct {
		Channel string              `json:"channel"`
		Clients []stream.ClientInfo `json:"clients"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Clients == nil {
		t.Fatalf("presence body %s: %v", r.body, err)
	}
	var out []string
	for _, c := range body.Clients {
		out = append(out, c.Client+"/"+c.User)
	}
	slices.Sort(out)
	return out
}

func TestPollKeepsClientAndPresence(t *testing.T) {
	n := presenceNode(t, time.Minute)
	q := url.Values{"channel": {"chat:room", "news:x"}, "timeout": {"0"}, "client": {"pc-1"}}
	if got := n.poll(t, q, bearer("good:pat")).Client; got != "pc-1" {
		t.Fatalf("reply client %q, want pc-1", got)
	}
	minted := n.poll(t, url.Values{"channel": {"chat:room"}, "timeout": {"0"}}).Client
	if minted == "" || minted == "pc-1" {
		t.Fatalf("minted client %q", minted)
	}
	want := []string{"pc-1/pat", minted + "/"}
	slices.Sort(want)
	if got := presenceClients(t, n.presence(t, "channel=chat:room")); !slices.Equal(got, want) {
		t.Errorf("/connection/presence = %v, want %v", got, want)
	}
	list, err := n.hub.Presence(context.Background(), "chat:room")
	if err != nil || len(list) != 2 {
		t.Errorf("hub presence %v, %v", list, err)
	}
	// Polling again under the same id is a refresh, not a second entry.
	n.poll(t, q, bearer("good:pat"))
	if got := presenceClients(t, n.presence(t, "channel=chat:room")); !slices.Equal(got, want) {
		t.Errorf("after a second poll: %v, want %v", got, want)
	}
}

func TestPollPresenceExpires(t *testing.T) {
	n := presenceNode(t, 200*time.Millisecond)
	n.poll(t, url.Values{"channel": {"chat:e"}, "timeout": {"0"}, "client": {"gone"}})
	if got := presenceClients(t, n.presence(t, "channel=chat:e")); len(got) != 1 {
		t.Fatalf("after the poll: %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(presenceClients(t, n.presence(t, "channel=chat:e"))) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that stopped polling is still present")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPollClientRefused(t *testing.T) {
	n := presenceNode(t, time.Minute)
	for _, v := range []string{"", "a b", "é", "a.b", strings.Repeat("x", 65)} {
		wantError(t, n.get(t, url.Values{"channel": {"chat:a"}, "timeout": {"0"}, "client": {v}}.Encode()), http.StatusBadRequest, 107)
	}
	wantError(t, n.get(t, "channel=chat:a&timeout=0&client=a&client=b"), http.StatusBadRequest, 107)
	if got := n.poll(t, url.Values{"channel": {"chat:a"}, "timeout": {"0"}, "client": {strings.Repeat("x", 64)}}).Client; len(got) != 64 {
		t.Errorf("64-character client answered as %q", got)
	}
}

func TestPresenceHandlerErrors(t *testing.T) {
	n := presenceNode(t, time.Minute)
	wantError(t, n.presence(t, "channel=news:x"), http.StatusNotFound, 108)
	wantError(t, n.presence(t, "channel=admin:x"), http.StatusForbidden, 103)
	wantError(t, n.presence(t, "channel=a%20b"), http.StatusBadRequest, 111)
	wantError(t, n.presence(t, ""), http.StatusBadRequest, 111)
	wantError(t, n.presence(t, "channel=nope:x"), http.StatusNotFound, 102)
	wantError(t, n.presence(t, "channel=chat:x", bearer("bad")), http.StatusUnauthorized, 101)
	req, _ := http.NewRequest(http.MethodPost, n.url+"/connection/presence?channel=chat:x", nil)
	if r := n.do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d %s", r.status, r.body)
	}
	if got := presenceClients(t, n.presence(t, "channel=chat:empty")); len(got) != 0 {
		t.Errorf("empty channel lists %v", got)
	}
}
