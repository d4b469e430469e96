package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
)

// disconnectConfig lets tests mint tokens, and opens the feed namespace to
// everyone.
const disconnectConfig = `token:
  hmac_secrets: ["` + transportSecret + `"]
shutdown_drain: 200ms
namespaces:
  - name: feed
`

// mintIssued mints a token for user issued at iat.
func mintIssued(t *testing.T, user string, iat time.Time) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(transportSecret), "", auth.Claims{Subject: user, IssuedAt: iat})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sessions is the node's session count over every transport.
func (n *node) sessions(ctx context.Context) int64 {
	var info struct {
		Sessions map[string]int64 `json:"sessions"`
	}
	if err := n.api(ctx, http.MethodGet, "/api/info", nil, &info); err != nil {
		return -1
	}
	var sum int64
	for _, v := range info.Sessions {
		sum += v
	}
	return sum
}

// shortPoll polls ch on n once with token and returns the status.
func shortPoll(ctx context.Context, t *testing.T, n *node, ch, token string) int {
	t.Helper()
	q := url.Values{"channel": {ch}, "timeout": {"0"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/connection/poll?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// nextOf waits for f's next event of a kind in kinds, skipping others.
func nextOf(ctx context.Context, t *testing.T, f follower, what string, kinds ...eventKind) followEvent {
	t.Helper()
	for {
		ev, err := f.next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		for _, k := range kinds {
			if ev.kind == k {
				return ev
			}
		}
	}
}

// TestDisconnectCluster: POST /api/disconnect on node A ends the user's
// sessions on every node — a WebSocket on B, a long poll on A — and the
// user's token is refused everywhere afterwards, while a token issued after
// the disconnect works and another user is untouched.
func TestDisconnectCluster(t *testing.T) {
	forEachBroker(t, func(t *testing.T, bk brokerKind) {
		broker := bk.start(t)
		path := filepath.Join(t.TempDir(), "switchboard.yaml")
		if err := os.WriteFile(path, []byte(disconnectConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		a := startNodeBinary(t, binary, "--config", path, "--broker", broker.url)
		b := startNodeBinary(t, binary, "--config", path, "--broker", broker.url)
		waitReady(t, http.StatusOK, a, b)
		ctx, cancel := context.WithTimeout(t.Context(), eventWait)
		defer cancel()

		const ch = "feed:disconnect"
		issued := time.Now().Add(-2 * time.Second)
		annOld, bobTok := mintIssued(t, "ann", issued), mintIssued(t, "bob", issued)

		annWS := newFollower(t, transportWS)
		if err := annWS.open(ctx, b, followSpec{channels: []string{ch}, token: annOld}); err != nil {
			t.Fatal(err)
		}
		nextOf(ctx, t, annWS, "ann's subscription on B", evSubscribed)
		bobWS := newFollower(t, transportWS)
		if err := bobWS.open(ctx, b, followSpec{channels: []string{ch}, token: bobTok}); err != nil {
			t.Fatal(err)
		}
		nextOf(ctx, t, bobWS, "bob's subscription on B", evSubscribed)

		// A long poll far longer than the test waits for its end, so
		// only the disconnect can end it.
		annPoll := &pollFollower{eventQueue: newEventQueue(), client: newFollowerClient(), timeout: time.Minute}
		t.Cleanup(annPoll.close)
		if err := annPoll.open(ctx, a, followSpec{channels: []string{ch}, token: annOld}); err != nil {
			t.Fatal(err)
		}
		nextOf(ctx, t, annPoll, "ann's first poll on A", evSubscribed)
		waitCondition(t, eventWait, func() bool { return a.sessions(ctx) == 1 },
			func() string { return fmt.Sprintf("node A holds %d sessions, want ann's long poll", a.sessions(ctx)) })

		var reply struct {
			Disconnected *int `json:"disconnected"`
		}
		if err := a.api(ctx, http.MethodPost, "/api/disconnect", map[string]string{"user": "ann"}, &reply); err != nil {
			t.Fatal(err)
		}
		if reply.Disconnected == nil || *reply.Disconnected != 1 {
			t.Fatalf("disconnected %v on A, want 1 (the long poll)", reply.Disconnected)
		}

		// The WebSocket on B is told not to reconnect.
		ev := nextOf(ctx, t, annWS, "ann's disconnect on B", evDisconnect, evEnd)
		if ev.kind != evDisconnect || ev.code != 3502 || ev.reconnect {
			t.Fatalf("ann on B: %v, want disconnect 3502 reconnect=false", ev)
		}
		// The long poll on A answers early; the poll that follows, with
		// the same token, is refused.
		ev = nextOf(ctx, t, annPoll, "ann's next poll on A to be refused", evError, evEnd)
		if ev.kind != evError || ev.status != http.StatusUnauthorized || ev.code != 101 {
			t.Fatalf("ann's poll after the disconnect: %v, want 401 code 101", ev)
		}
		for _, n := range []*node{a, b} {
			if got := shortPoll(ctx, t, n, ch, annOld); got != http.StatusUnauthorized {
				t.Fatalf("poll with the old token on %s: %d, want 401", n.URL, got)
			}
		}

		// A token issued after the disconnect works on every node.
		annNew := mintIssued(t, "ann", time.Time{})
		for _, n := range []*node{a, b} {
			if got := shortPoll(ctx, t, n, ch, annNew); got != http.StatusOK {
				t.Fatalf("poll with a fresh token on %s: %d, want 200", n.URL, got)
			}
		}

		// Bob is still connected and still receives.
		publishEach(t, a, ch, `{"n":1}`)
		ev = nextOf(ctx, t, bobWS, "bob's publication", evPublication, evDisconnect, evEnd)
		if ev.kind != evPublication {
			t.Fatalf("bob: %v, want the publication", ev)
		}
	})
}
