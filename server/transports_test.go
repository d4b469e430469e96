package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestHTTPTransportsMounted drives SSE, polling and client publish through
// the server's mux: a publication made on one transport reaches the others.
func TestHTTPTransportsMounted(t *testing.T) {
	n := newNode(t)

	// A short poll gives the starting cursor.
	first := n.do(http.MethodGet, "/connection/poll?channel=chat:mix&timeout=0", "", "")
	if first.Status != http.StatusOK {
		t.Fatalf("poll: %d %s", first.Status, first.Body)
	}
	cursor := first.json(t)["cursor"].(string)

	resp, err := http.Get(n.base + "/connection/sse?channel=chat:mix")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("sse content type %q", ct)
	}
	events := testkit.NewSSEStream(t, resp.Body)
	if ev := events.Next(); ev.Event != "connected" {
		t.Fatalf("first event %+v, want connected", ev)
	}

	pub := n.do(http.MethodPost, "/connection/publish", "", `{"channel":"chat:mix","data":{"text":"hi"}}`)
	if pub.Status != http.StatusOK || pub.json(t)["offset"].(float64) != 1 {
		t.Fatalf("client publish: %d %s", pub.Status, pub.Body)
	}
	var p struct {
		Channel string          `json:"channel"`
		Offset  uint64          `json:"offset"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(events.Next().Data), &p); err != nil {
		t.Fatal(err)
	}
	if p.Channel != "chat:mix" || p.Offset != 1 || string(p.Data) != `{"text":"hi"}` {
		t.Fatalf("sse publication %+v", p)
	}

	next := n.do(http.MethodGet, "/connection/poll?channel=chat:mix&timeout=5s&cursor="+cursor, "", "")
	body := next.json(t)
	pubs := body["publications"].([]any)
	if next.Status != http.StatusOK || len(pubs) != 1 || body["recovered"] != true {
		t.Fatalf("poll with cursor: %d %s", next.Status, next.Body)
	}
	if r := n.do(http.MethodDelete, "/connection/poll?channel=chat:mix", "", ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE poll: %d", r.Status)
	}
}
