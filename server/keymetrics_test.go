package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/server"
)

// TestIdempotencyKeyMetrics: the memory broker's key store is on /metrics,
// so an operator sees it approach limits.key_bytes.
func TestIdempotencyKeyMetrics(t *testing.T) {
	b := memory.New(memory.Config{Logger: quiet})
	n := newNode(t, withHub(t, hub.Config{Broker: b}), func(c *server.Config) { c.KeyStats = b.KeyStats })
	for _, key := range []string{"k-1", "k-2", "k-1"} {
		if r := n.api("POST", "/api/publish", `{"channel":"keys","data":1,"key":"`+key+`"}`); r.Status != 200 {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	body := string(n.do("GET", "/metrics", "", "").Body)
	for _, want := range []string{
		"switchboard_idempotency_keys 2\n",
		fmt.Sprintf("switchboard_idempotency_key_bytes %d\n", 2*(3+memory.KeyOverhead)),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
