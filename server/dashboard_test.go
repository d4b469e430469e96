package server_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/server"
)

// The dashboard feed publishes the node's figures to its channel, steadily
// and with offsets that follow each other, and counts the traffic it sees.
func TestDashboardFeed(t *testing.T) {
	n := newNode(t, func(c *server.Config) {
		c.DashboardFeed = "chat:dashboard"
		c.DashboardInterval = 20 * time.Millisecond
	})
	c := n.dial("")
	c.subscribe("chat:dashboard")
	n.publish("chat:other", `{"n":1}`)

	var last float64
	for i := 0; i < 5; i++ {
		f := c.read()
		if f["type"] != "message" || f["channel"] != "chat:dashboard" {
			t.Fatalf("frame %v, want a message on chat:dashboard", f)
		}
		off := f["offset"].(float64)
		if last != 0 && off != last+1 {
			t.Fatalf("offset %v after %v", off, last)
		}
		last = off
		raw, _ := json.Marshal(f["data"])
		var fig struct {
			Node          string           `json:"node"`
			Broker        string           `json:"broker"`
			Sessions      map[string]int64 `json:"sessions"`
			Subscriptions int64            `json:"subscriptions"`
			Publications  uint64           `json:"publications"`
			Goroutines    uint64           `json:"goroutines"`
			HeapBytes     uint64           `json:"heap_bytes"`
		}
		if err := json.Unmarshal(raw, &fig); err != nil {
			t.Fatalf("figures %s: %v", raw, err)
		}
		if fig.Node == "" || fig.Broker != "memory" || fig.Sessions["websocket"] != 1 || fig.Subscriptions != 1 ||
			fig.Publications == 0 || fig.Goroutines == 0 || fig.HeapBytes == 0 {
			t.Fatalf("figures %s: want a node name, the memory broker, one WebSocket session with one subscription, publications, goroutines and heap", raw)
		}
	}
}

// A feed whose channel the node does not serve stops by itself, with a
// warning that names the channel; the node serves on.
func TestDashboardFeedUnknownChannel(t *testing.T) {
	var logs testkit.Buffer
	n := newNode(t, func(c *server.Config) {
		c.DashboardFeed = "nowhere:dashboard"
		c.DashboardInterval = 5 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	testkit.Eventually(t, "the feed's warning", func() bool {
		return strings.Contains(logs.String(), "dashboard feed off") && strings.Contains(logs.String(), "nowhere:dashboard")
	})
	if r := n.do("GET", "/readyz", "", ""); r.Status != 200 {
		t.Fatalf("readyz %d after the feed stopped", r.Status)
	}
	n.publish("chat:x", `{}`)
	if got := strings.Count(logs.String(), "dashboard feed"); got != 1 {
		t.Errorf("%d dashboard feed warnings, want 1:\n%s", got, logs.String())
	}
}
