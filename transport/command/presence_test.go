package command_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/command"
)

// presenceNode keeps presence in memory for chat and admin, not for news.
func presenceNode(t *testing.T) *node {
	t.Helper()
	return startNode(t, hub.Config{
		Namespaces: transporttest.PresenceNamespaces(t),
		Presence:   memory.NewPresence(memory.PresenceConfig{}),
	}, command.Config{})
}

func (n *node) presence(t *testing.T, query string, edit ...func(*http.Request)) testkit.Response {
	t.Helper()
	return n.call(t, http.MethodGet, "/connection/presence?"+query, "", edit...)
}

func TestPresenceHandler(t *testing.T) {
	n := presenceNode(t)
	ctx := context.Background()
	for _, c := range []struct{ client, user string }{{"c1", "ann"}, {"c2", ""}} {
		id := stream.Identity{User: c.user}
		if err := n.Hub.TouchPresence(ctx, id, c.client, []string{"chat:room"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	var got protocol.PresenceReply
	wantOK(t, n.presence(t, "channel=chat:room", testkit.Bearer("good:bob")), &got)
	var who []string
	for _, c := range got.Clients {
		who = append(who, c.Client+"/"+c.User)
	}
	slices.Sort(who)
	if got.Channel != "chat:room" || !slices.Equal(who, []string{"c1/ann", "c2/"}) {
		t.Fatalf("presence %+v", got)
	}

	// An empty channel lists [], not null.
	r := n.presence(t, "channel=chat:empty")
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil || string(body["clients"]) != "[]" {
		t.Fatalf("empty channel: %s", r.Body)
	}
}

func TestPresenceHandlerErrors(t *testing.T) {
	n := presenceNode(t)
	testkit.WantError(t, n.presence(t, "channel=news:x"), http.StatusNotFound, 108)
	testkit.WantError(t, n.presence(t, "channel=admin:x"), http.StatusForbidden, 103)
	testkit.WantError(t, n.presence(t, "channel=a%20b"), http.StatusBadRequest, 111)
	testkit.WantError(t, n.presence(t, ""), http.StatusBadRequest, 111)
	testkit.WantError(t, n.presence(t, "channel=nope:x"), http.StatusNotFound, 102)
	testkit.WantError(t, n.presence(t, "channel=chat:x", testkit.Bearer("bad")), http.StatusUnauthorized, 101)
	r := n.call(t, http.MethodPost, "/connection/presence?channel=chat:x", "")
	testkit.WantError(t, r, http.StatusMethodNotAllowed, 107)
	if allow := r.Header.Get("Allow"); allow != "GET, OPTIONS" {
		t.Errorf("POST: Allow %q", allow)
	}
}
