package poll_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func presenceNode(t *testing.T, ttl time.Duration) *node {
	t.Helper()
	return startNode(t, hub.Config{
		Namespaces:  transporttest.PresenceNamespaces(t),
		Presence:    memory.NewPresence(memory.PresenceConfig{SweepInterval: 20 * time.Millisecond}),
		PresenceTTL: ttl,
	}, poll.Config{})
}

// presenceClients lists the clients present in ch as client/user, sorted.
func (n *node) presenceClients(t *testing.T, ch string) []string {
	t.Helper()
	list, err := n.Hub.Presence(context.Background(), ch)
	if err != nil {
		t.Fatalf("presence of %s: %v", ch, err)
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Client+"/"+c.User)
	}
	slices.Sort(out)
	return out
}

func TestPollKeepsClientAndPresence(t *testing.T) {
	n := presenceNode(t, time.Minute)
	q := url.Values{"channel": {"chat:room", "news:x"}, "timeout": {"0"}, "client": {"pc-1"}}
	if got := n.poll(t, q, testkit.Bearer("good:pat")).Client; got != "pc-1" {
		t.Fatalf("reply client %q, want pc-1", got)
	}
	minted := n.poll(t, url.Values{"channel": {"chat:room"}, "timeout": {"0"}}).Client
	if minted == "" || minted == "pc-1" {
		t.Fatalf("minted client %q", minted)
	}
	want := []string{"pc-1/pat", minted + "/"}
	slices.Sort(want)
	if got := n.presenceClients(t, "chat:room"); !slices.Equal(got, want) {
		t.Errorf("presence %v, want %v", got, want)
	}
	// Polling again under the same id is a refresh, not a second entry.
	n.poll(t, q, testkit.Bearer("good:pat"))
	if got := n.presenceClients(t, "chat:room"); !slices.Equal(got, want) {
		t.Errorf("after a second poll: %v, want %v", got, want)
	}
}

func TestPollPresenceExpires(t *testing.T) {
	n := presenceNode(t, 200*time.Millisecond)
	n.poll(t, url.Values{"channel": {"chat:e"}, "timeout": {"0"}, "client": {"gone"}})
	if got := n.presenceClients(t, "chat:e"); len(got) != 1 {
		t.Fatalf("after the poll: %v", got)
	}
	testkit.Eventually(t, "a client that stopped polling to leave presence", func() bool {
		return len(n.presenceClients(t, "chat:e")) == 0
	})
}

func TestPollClientRefused(t *testing.T) {
	n := presenceNode(t, time.Minute)
	for _, v := range []string{"", "a b", "é", "a.b", strings.Repeat("x", 65)} {
		testkit.WantError(t, n.get(t, url.Values{"channel": {"chat:a"}, "timeout": {"0"}, "client": {v}}.Encode()), http.StatusBadRequest, 107)
	}
	testkit.WantError(t, n.get(t, "channel=chat:a&timeout=0&client=a&client=b"), http.StatusBadRequest, 107)
	if got := n.poll(t, url.Values{"channel": {"chat:a"}, "timeout": {"0"}, "client": {strings.Repeat("x", 64)}}).Client; len(got) != 64 {
		t.Errorf("64-character client answered as %q", got)
	}
}
