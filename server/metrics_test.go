package server_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

func TestMetrics(t *testing.T) {
	n := newNode(t)
	c := n.dial("")
	c.subscribe("chat:m")
	n.publish("chat:m", "1")
	if f := c.read(); f["type"] != "message" {
		t.Fatalf("want the message, got %v", f)
	}
	// One session that ends, so disconnects are counted.
	gone := n.dial("")
	gone.conn.Close()
	testkit.Eventually(t, "the closed session to end", func() bool { return n.hub.Sessions() == 1 })

	r := n.do("GET", "/metrics", "", "")
	if r.Status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	body := string(r.Body)
	for _, want := range []string{
		`switchboard_connections{transport="websocket"} 1`,
		`switchboard_subscriptions 1`,
		`switchboard_publications_total 1`,
		`switchboard_deliveries_total 1`,
		`switchboard_queue_drops_total 0`,
		`switchboard_replayed_total 0`,
		`switchboard_disconnects_total{code="3000",transport="websocket"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
