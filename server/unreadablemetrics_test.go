package server_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboardhq/switchboard/server"
)

// TestBrokerUnreadableMetric: the publications the broker could not read
// are on /metrics, so a node that meets them (a broker too old, a rolling
// upgrade across a format change) is seen to, and not only in its log.
func TestBrokerUnreadableMetric(t *testing.T) {
	var n atomic.Uint64
	n.Store(7)
	node := newNode(t, func(c *server.Config) { c.BrokerUnreadable = n.Load })
	body := string(node.do("GET", "/metrics", "", "").Body)
	if !strings.Contains(body, "switchboard_broker_unreadable_total 7\n") {
		t.Errorf("metrics lack switchboard_broker_unreadable_total 7:\n%s", grep(body, "switchboard_broker"))
	}
	n.Add(1)
	body = string(node.do("GET", "/metrics", "", "").Body)
	if !strings.Contains(body, "switchboard_broker_unreadable_total 8\n") {
		t.Errorf("metrics lack switchboard_broker_unreadable_total 8 after one more:\n%s", grep(body, "switchboard_broker"))
	}
}

// grep returns the lines of s that contain substr.
func grep(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
